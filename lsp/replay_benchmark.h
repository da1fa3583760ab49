// `mtpc bench lsp` as a library call: an editing session replayed through a
// real `mtpc serve` child over pipes (lsp/server_process.h). A file is typed
// one character at a time; before each request the editor sends didChange,
// then asks for an inline completion, and waits at most a keystroke interval
// for it before typing on (a reply that comes later was cancelled by the
// next edit, as in an editor). Measures latency from request to reply.
//
// Threads: blocks the calling thread. Never throws.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"

namespace mtpc::lsp {

struct ReplayBenchmarkOptions {
  std::string mtpc_binary;           // the `mtpc` executable started as the server
  std::string model;                 // checkpoint directory
  std::string file;                  // the file typed (empty: a built-in Python file)
  std::string log = "/dev/null";     // the server's log file
  int keystroke_ms = 150;            // longest wait for a reply before the next keystroke
  int max_keystrokes = 0;            // type at most this many characters (0: all)
  int deadline_ms = 300;             // the server's completion deadline
  int timeout_ms = 30000;            // longest wait for a reply that must come
  std::string device = "cpu";        // passed to the server
  int threads = 0;                   // passed to the server (0: all cores)
};

// {"requests", "answered", "p50_ms", "p95_ms", "p99_ms",
//  "answered_from_typeahead" (a fraction of requests), "cancellations",
//  "errors", "deadline_hits", "keystroke_ms", "deadline_ms", "machine"}.
// An error: the server could not be started or stopped replying.
Result<nlohmann::json> run_replay_benchmark(const ReplayBenchmarkOptions& options);

// A document typed one character at a time, as the benchmarks' typists do:
// the didOpen of an empty Python file, then one didChange per character
// (an insertion at the cursor, UTF-8 positions), the cursor following.
class TypedDocument {
 public:
  explicit TypedDocument(std::string uri) : uri_(std::move(uri)) {}
  const std::string& uri() const { return uri_; }
  nlohmann::json open() const;
  // The didChange inserting `c` at the cursor; the cursor moves past it.
  nlohmann::json type(char c);
  // Where the cursor is now (after the last typed character).
  int64_t line() const { return line_; }
  int64_t character() const { return col_; }

 private:
  std::string uri_;
  int64_t line_ = 0, col_ = 0, version_ = 1;
};

}  // namespace mtpc::lsp
