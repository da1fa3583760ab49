// mtpc bench lsp: a few lines over lsp::run_replay_benchmark().
#include <cstdio>

#include "base/machine.h"
#include "cli/commands.h"
#include "lsp/replay_benchmark.h"

namespace mtpc::cli {

void add_bench_lsp_command(CLI::App& bench, GlobalOptions& global) {
  auto* cmd = bench.add_subcommand("lsp", "replay a typing session through `mtpc serve`; latency percentiles");
  auto o = std::make_shared<lsp::ReplayBenchmarkOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--model", o->model, "checkpoint directory, or OWNER/NAME[@REVISION] pulled with mtpc pull")->required();
  cmd->add_option("--file", o->file, "the file to type (default: a built-in Python file)")->check(CLI::ExistingFile);
  cmd->add_option("--keystroke-ms", o->keystroke_ms, "longest wait for a reply before the next keystroke")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-keystrokes", o->max_keystrokes, "type at most this many characters (0: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--deadline-ms", o->deadline_ms, "the server's completion deadline")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--log", o->log, "the server's log file")->capture_default_str();
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->callback([o, json, &global] {
    o->model = resolve_model_flag(o->model, "bench lsp");
    o->mtpc_binary = executable_path();
    o->device = global.device;
    o->threads = global.threads;
    auto r = lsp::run_replay_benchmark(*o);
    if (!r.ok()) throw CLI::RuntimeError("mtpc bench lsp: " + r.status().message(), 1);
    const nlohmann::json& j = *r;
    if (*json) std::printf("%s\n", j.dump(2).c_str());
    else
      std::printf("%lld requests, %lld answered: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; %.0f%% from typed-ahead, %lld cancelled\n",
                  j["requests"].get<long long>(), j["answered"].get<long long>(), j["p50_ms"].get<double>(),
                  j["p95_ms"].get<double>(), j["p99_ms"].get<double>(), 100 * j["answered_from_typeahead"].get<double>(),
                  j["cancellations"].get<long long>());
    throw CLI::RuntimeError("", j["errors"].get<int64_t>() == 0 ? 0 : 1);
  });
}

}  // namespace mtpc::cli
