// mtpc bench lsp: an editing session replayed through the real server over a
// pipe. A Python file is typed one character at a time; before each request
// the editor sends didChange, then asks for an inline completion, and waits
// at most a keystroke interval for it before typing on (a reply that comes
// later was cancelled by the next edit, as in an editor). Prints latency
// percentiles from request to reply.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/machine.h"
#include "cli/commands.h"
#include "lsp/server_process.h"

namespace mtpc::cli {


namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The default file typed: ordinary Python with blocks, calls and a loop.
constexpr const char* kDefaultScript =
    "import os\n"
    "\n"
    "def read_lines(path):\n"
    "    with open(path) as f:\n"
    "        return [line.rstrip() for line in f]\n"
    "\n"
    "def count_words(lines):\n"
    "    counts = {}\n"
    "    for line in lines:\n"
    "        for word in line.split():\n"
    "            counts[word] = counts.get(word, 0) + 1\n"
    "    return counts\n";

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

void add_bench_lsp_command(CLI::App& bench, GlobalOptions& global) {
  auto* cmd = bench.add_subcommand("lsp", "replay a typing session through `mtpc serve`; latency percentiles");
  struct Args {
    std::string model, file, log = "/dev/null";
    int keystroke_ms = 150, max_keystrokes = 0, deadline_ms = 300, timeout_ms = 30000;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--model", a->model, "checkpoint directory")->required();
  cmd->add_option("--file", a->file, "the file to type (default: a built-in Python file)")->check(CLI::ExistingFile);
  cmd->add_option("--keystroke-ms", a->keystroke_ms, "longest wait for a reply before the next keystroke")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-keystrokes", a->max_keystrokes, "type at most this many characters (0: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--deadline-ms", a->deadline_ms, "the server's completion deadline")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--log", a->log, "the server's log file")->capture_default_str();
  cmd->add_flag("--json", a->json, "print one JSON object");
  cmd->callback([a, &global] {
    std::string script = kDefaultScript;
    if (!a->file.empty()) {
      std::ifstream in(a->file, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      script = ss.str();
    }
    if (a->max_keystrokes > 0 && script.size() > static_cast<size_t>(a->max_keystrokes))
      script.resize(static_cast<size_t>(a->max_keystrokes));
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) throw CLI::RuntimeError("mtpc bench lsp: cannot find the mtpc binary", 1);
    exe[n] = '\0';
    auto server = lsp::ServerProcess::spawn({exe, "--threads", std::to_string(global.threads), "--device",
                                             global.device, "serve", "--model", a->model,
                                             "--log", a->log, "--deadline-ms", std::to_string(a->deadline_ms)});
    if (!server.ok()) throw CLI::RuntimeError("mtpc bench lsp: " + server.status().message(), 1);
    lsp::ServerProcess& s = **server;
    const auto timeout = std::chrono::milliseconds(a->timeout_ms);
    int64_t next_id = 1;
    // Sends a request and waits for its reply (other messages are skipped).
    auto call = [&](const std::string& method, const json& params) -> json {
      int64_t id = next_id++;
      s.send({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
      for (;;) {
        auto m = s.receive(timeout);
        if (!m) throw CLI::RuntimeError("mtpc bench lsp: no reply to " + method, 1);
        if (m->is_object() && m->value("id", json()) == id) return *m;
      }
    };
    call("initialize", {{"capabilities", {{"general", {{"positionEncodings", {"utf-8"}}}}}}});
    s.send({{"jsonrpc", "2.0"}, {"method", "initialized"}, {"params", json::object()}});
    const std::string uri = "file:///bench/typed.py";
    s.send({{"jsonrpc", "2.0"},
            {"method", "textDocument/didOpen"},
            {"params", {{"textDocument", {{"uri", uri}, {"languageId", "python"}, {"version", 1}, {"text", ""}}}}}});

    std::map<int64_t, Clock::time_point> sent;
    std::vector<double> latencies;
    int64_t cancelled = 0, errors = 0, requests = 0;
    auto take = [&](const json& m) {
      if (!m.is_object() || !m.contains("id") || !m["id"].is_number_integer()) return;
      auto it = sent.find(m["id"].get<int64_t>());
      if (it == sent.end()) return;
      if (m.contains("result")) {
        latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - it->second).count());
      } else {
        int code = m["error"].value("code", 0);
        if (code == -32800 || code == -32801) ++cancelled;
        else ++errors;
      }
      sent.erase(it);
    };
    int64_t line = 0, col = 0;
    for (size_t i = 0; i < script.size(); ++i) {
      const std::string ch(1, script[i]);
      s.send({{"jsonrpc", "2.0"},
              {"method", "textDocument/didChange"},
              {"params",
               {{"textDocument", {{"uri", uri}, {"version", static_cast<int64_t>(i) + 2}}},
                {"contentChanges",
                 {{{"range", {{"start", {{"line", line}, {"character", col}}},
                              {"end", {{"line", line}, {"character", col}}}}},
                   {"text", ch}}}}}}});
      if (script[i] == '\n') {
        ++line;
        col = 0;
      } else {
        ++col;
      }
      int64_t id = next_id++;
      sent[id] = Clock::now();
      ++requests;
      s.send({{"jsonrpc", "2.0"},
              {"id", id},
              {"method", "textDocument/inlineCompletion"},
              {"params", {{"textDocument", {{"uri", uri}}}, {"position", {{"line", line}, {"character", col}}},
                          {"context", {{"triggerKind", 2}}}}}});
      auto until = Clock::now() + std::chrono::milliseconds(a->keystroke_ms);
      while (sent.count(id)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        if (left.count() <= 0) break;
        auto m = s.receive(left);
        if (!m) break;
        take(*m);
      }
    }
    // The last replies, then the server's own counters.
    while (!sent.empty()) {
      auto m = s.receive(timeout);
      if (!m) break;
      take(*m);
    }
    json stats = call("mtpc/stats", json::object()).value("result", json::object());
    call("shutdown", nullptr);
    s.send({{"jsonrpc", "2.0"}, {"method", "exit"}});
    s.wait(timeout);

    int64_t typeahead = stats.value("fromTypeahead", int64_t{0});
    json out = {{"requests", requests},
                {"answered", static_cast<int64_t>(latencies.size())},
                {"p50_ms", percentile(latencies, 50)},
                {"p95_ms", percentile(latencies, 95)},
                {"p99_ms", percentile(latencies, 99)},
                {"answered_from_typeahead", requests ? static_cast<double>(typeahead) / requests : 0.0},
                {"cancellations", cancelled},
                {"errors", errors},
                {"deadline_hits", stats.value("deadline", int64_t{0})},
                {"keystroke_ms", a->keystroke_ms},
                {"deadline_ms", a->deadline_ms},
                {"machine", machine_description(global.device, global.threads)}};
    if (a->json) {
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      std::printf("%lld requests, %lld answered: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; %.0f%% from typed-ahead, %lld cancelled\n",
                  static_cast<long long>(requests), static_cast<long long>(latencies.size()),
                  out["p50_ms"].get<double>(), out["p95_ms"].get<double>(), out["p99_ms"].get<double>(),
                  100 * out["answered_from_typeahead"].get<double>(), static_cast<long long>(cancelled));
    }
    throw CLI::RuntimeError("", errors == 0 ? 0 : 1);
  });
}

}  // namespace mtpc::cli
