// `mtpc bench serve` as a library call: N simulated typists, each on its own
// TCP connection with its own document, against one spawned `mtpc serve
// --listen 127.0.0.1:0`. Every typist types the same file one character per
// keystroke interval (each on its own clock, offset so keystrokes spread),
// sending didChange and an inline completion per keystroke, as `bench lsp`
// does for one. Each client count runs twice: with batching (the server's
// scheduler) and with --no-batching, for the gain.
//
// Threads: one thread per typist, joined before returning. Never throws.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace mtpc::lsp {

struct ServeBenchmarkOptions {
  std::string mtpc_binary;
  std::string model;
  std::vector<int> clients = {1, 4, 16, 32};
  std::string file;               // empty: the built-in Python file (replay_benchmark's)
  int keystroke_ms = 150;
  int max_keystrokes = 0;         // 0: the whole file
  int deadline_ms = 300;          // the server's completion deadline
  int syntax_retries = 4;         // the server's --syntax-retries
  int max_batch = 16;             // the server's --max-batch
  int max_queue = 256;            // the server's --max-queue
  int timeout_ms = 30000;         // longest wait for a reply that must come
  std::string log_dir = "/tmp";   // servers' logs (mtpc-bench-serve-*.log)
  std::string device = "cpu";
  int threads = 0;
  bool compare_no_batching = true;
};

// {"runs": [{"clients", "batching", "requests", "replies", "answered",
//   "answered_before_next_keystroke" (fraction of requests), "busy",
//   "cancelled", "errors", "p50_ms", "p95_ms", "p99_ms", "tokens",
//   "tokens_per_s", "seconds"}...], "gain": [{"clients",
//   "p99_ratio" (no batching / batching), "tokens_per_s_ratio",
//   "on_time_ratio"}...], "keystroke_ms", "deadline_ms", "syntax_retries", "max_batch",
//   "machine"}. An error: a server could not start or listen.
Result<nlohmann::json> run_serve_benchmark(const ServeBenchmarkOptions& options);

// The text typed by the LSP benchmarks when no file is given.
const char* default_typed_script();
// What a benchmark types: `file`'s bytes (empty: default_typed_script()),
// cut to the first `max_keystrokes` characters when that is > 0. Error: the
// file cannot be read.
Result<std::string> typed_script(const std::string& file, int max_keystrokes);

}  // namespace mtpc::lsp
