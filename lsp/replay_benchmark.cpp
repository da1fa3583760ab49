#include "lsp/replay_benchmark.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "base/machine.h"
#include "lsp/server_process.h"
#include "lsp/serve_benchmark.h"

namespace mtpc::lsp {
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

// Requests in flight by id, and what became of the ones that ended.
struct Replies {
  std::map<int64_t, Clock::time_point> sent;
  std::vector<double> latencies;
  int64_t cancelled = 0, errors = 0;

  void take(const json& m) {
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
  }
};

}  // namespace

const char* default_typed_script() { return kDefaultScript; }

Result<std::string> typed_script(const std::string& file, int max_keystrokes) {
  std::string script = kDefaultScript;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Status::Error(file + ": cannot read");
    std::ostringstream ss;
    ss << in.rdbuf();
    script = ss.str();
  }
  if (max_keystrokes > 0 && script.size() > static_cast<size_t>(max_keystrokes))
    script.resize(static_cast<size_t>(max_keystrokes));
  return script;
}

Result<json> run_replay_benchmark(const ReplayBenchmarkOptions& o) {
  Result<std::string> typed = typed_script(o.file, o.max_keystrokes);
  if (!typed.ok()) return typed.status();
  const std::string script = std::move(typed.value());
  auto server = ServerProcess::spawn({o.mtpc_binary, "--threads", std::to_string(o.threads), "--device", o.device,
                                      "serve", "--model", o.model, "--log", o.log, "--deadline-ms",
                                      std::to_string(o.deadline_ms)});
  if (!server.ok()) return server.status();
  ServerProcess& s = **server;
  const auto timeout = std::chrono::milliseconds(o.timeout_ms);
  int64_t next_id = 1;
  // Sends a request and waits for its reply (other messages are skipped).
  auto call = [&](const std::string& method, const json& params) -> Result<json> {
    int64_t id = next_id++;
    s.send({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
    for (;;) {
      auto m = s.receive(timeout);
      if (!m) return Status::Error("no reply to " + method);
      if (m->is_object() && m->value("id", json()) == id) return *m;
    }
  };
  if (auto r = call("initialize", {{"capabilities", {{"general", {{"positionEncodings", {"utf-8"}}}}}}}); !r.ok())
    return r.status();
  s.send({{"jsonrpc", "2.0"}, {"method", "initialized"}, {"params", json::object()}});
  TypedDocument doc("file:///bench/typed.py");
  const std::string& uri = doc.uri();
  s.send(doc.open());

  Replies replies;
  int64_t requests = 0;
  for (size_t i = 0; i < script.size(); ++i) {
    s.send(doc.type(script[i]));
    int64_t id = next_id++;
    replies.sent[id] = Clock::now();
    ++requests;
    s.send({{"jsonrpc", "2.0"},
            {"id", id},
            {"method", "textDocument/inlineCompletion"},
            {"params", {{"textDocument", {{"uri", uri}}}, {"position", {{"line", doc.line()}, {"character", doc.character()}}},
                        {"context", {{"triggerKind", 2}}}}}});
    auto until = Clock::now() + std::chrono::milliseconds(o.keystroke_ms);
    while (replies.sent.count(id)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0) break;
      auto m = s.receive(left);
      if (!m) break;
      replies.take(*m);
    }
  }
  // The last replies, then the server's own counters.
  while (!replies.sent.empty()) {
    auto m = s.receive(timeout);
    if (!m) break;
    replies.take(*m);
  }
  Result<json> stats_reply = call("mtpc/stats", json::object());
  if (!stats_reply.ok()) return stats_reply.status();
  json stats = stats_reply->value("result", json::object());
  if (auto r = call("shutdown", nullptr); !r.ok()) return r.status();
  s.send({{"jsonrpc", "2.0"}, {"method", "exit"}});
  s.wait(timeout);

  const std::vector<double>& latencies = replies.latencies;
  int64_t typeahead = stats.value("fromTypeahead", int64_t{0});
  return json{{"requests", requests},
              {"answered", static_cast<int64_t>(latencies.size())},
              {"p50_ms", percentile(latencies, 50)},
              {"p95_ms", percentile(latencies, 95)},
              {"p99_ms", percentile(latencies, 99)},
              {"answered_from_typeahead", requests ? static_cast<double>(typeahead) / requests : 0.0},
              {"cancellations", replies.cancelled},
              {"errors", replies.errors},
              {"deadline_hits", stats.value("deadline", int64_t{0})},
              {"keystroke_ms", o.keystroke_ms},
              {"deadline_ms", o.deadline_ms},
              {"machine", machine_description(o.device, o.threads)}};
}

nlohmann::json TypedDocument::open() const {
  return {{"jsonrpc", "2.0"},
          {"method", "textDocument/didOpen"},
          {"params", {{"textDocument", {{"uri", uri_}, {"languageId", "python"}, {"version", 1}, {"text", ""}}}}}};
}

nlohmann::json TypedDocument::type(char c) {
  nlohmann::json at = {{"line", line_}, {"character", col_}};
  nlohmann::json change = {
      {"jsonrpc", "2.0"},
      {"method", "textDocument/didChange"},
      {"params",
       {{"textDocument", {{"uri", uri_}, {"version", ++version_}}},
        {"contentChanges", {{{"range", {{"start", at}, {"end", at}}}, {"text", std::string(1, c)}}}}}}};
  if (c == '\n') {
    ++line_;
    col_ = 0;
  } else {
    ++col_;
  }
  return change;
}

}  // namespace mtpc::lsp
