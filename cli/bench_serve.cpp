// mtpc bench serve: a few lines over lsp::run_serve_benchmark().
#include <cstdio>

#include "base/machine.h"
#include "cli/commands.h"
#include "lsp/serve_benchmark.h"

namespace mtpc::cli {

void add_bench_serve_command(CLI::App& bench, GlobalOptions& global) {
  auto* cmd = bench.add_subcommand(
      "serve", "N simulated typists over TCP against one `mtpc serve --listen`; latency, throughput, batching gain");
  auto o = std::make_shared<lsp::ServeBenchmarkOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--model", o->model, "checkpoint directory, or OWNER/NAME[@REVISION] pulled with mtpc pull")->required();
  cmd->add_option("--clients", o->clients, "typist counts, one run each (comma-separated)")
      ->delimiter(',')->capture_default_str();
  cmd->add_option("--file", o->file, "the file each typist types (default: a built-in Python file)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--keystroke-ms", o->keystroke_ms, "time between one typist's keystrokes")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-keystrokes", o->max_keystrokes, "type at most this many characters (0: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--deadline-ms", o->deadline_ms, "the server's completion deadline")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--syntax-retries", o->syntax_retries, "the server's --syntax-retries")
      ->check(CLI::Range(0, 16))->capture_default_str();
  cmd->add_option("--max-batch", o->max_batch, "the server's --max-batch")->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("--max-queue", o->max_queue, "the server's --max-queue")->check(CLI::Range(0, 1 << 20))->capture_default_str();
  cmd->add_option("--log-dir", o->log_dir, "where the servers' logs go")->capture_default_str();
  cmd->add_flag("--batching-only", [o](int64_t) { o->compare_no_batching = false; },
                "skip the --no-batching runs (no gain figures)");
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->callback([o, json, &global] {
    o->model = resolve_model_flag(o->model, "bench serve");
    o->mtpc_binary = executable_path();
    o->device = global.device;
    o->threads = global.threads;
    auto r = lsp::run_serve_benchmark(*o);
    if (!r.ok()) throw CLI::RuntimeError("mtpc bench serve: " + r.status().message(), 1);
    const nlohmann::json& j = *r;
    bool all_answered = true;
    for (const auto& run : j["runs"]) all_answered = all_answered && run["every_request_answered"].get<bool>();
    if (*json) {
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      for (const auto& run : j["runs"])
        std::printf("%3d typists, %s: %lld requests, %lld replies; p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; "
                    "%.0f%% before the next keystroke; %lld busy; %.0f tokens/s\n",
                    run["clients"].get<int>(), run["batching"].get<bool>() ? "batching   " : "no batching",
                    run["requests"].get<long long>(), run["replies"].get<long long>(), run["p50_ms"].get<double>(),
                    run["p95_ms"].get<double>(), run["p99_ms"].get<double>(),
                    100 * run["answered_before_next_keystroke"].get<double>(), run["busy"].get<long long>(),
                    run["tokens_per_s"].get<double>());
    }
    throw CLI::RuntimeError("", all_answered ? 0 : 1);
  });
}

}  // namespace mtpc::cli
