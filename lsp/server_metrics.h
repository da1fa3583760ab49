// The server's metrics, one registry for LSP and HTTP (GET /metrics renders
// it). Families are declared once here, with the names operators query;
// every front end (the LSP server, the HTTP API, the engine thread, the
// access layer) records through these methods. Thread-safe; torch-free.
//
// Names follow vLLM's / llama.cpp's where they have one:
//   mtpc_spec_decode_num_draft_tokens_total, ..._num_accepted_tokens_total,
//   ..._num_accepted_tokens_per_pos_total{position="1".."k"} (the heads'
//   drafts); context drafts apart: ..._context_draft_tokens_total,
//   ..._context_accepted_tokens_total.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/metrics.h"
#include "inference/engine.h"

namespace mtpc::lsp {

class AccessControl;  // lsp/access.h

class ServerMetrics {
 public:
  ServerMetrics();

  metrics::Registry& registry() { return registry_; }
  // The text format; the access numbers are read from the watched
  // AccessControl first.
  std::string render() const;

  // One answered request: `endpoint` is the HTTP path or the LSP method,
  // `outcome` one of ok | cancelled | error | client_error | timeout.
  void request_done(const std::string& endpoint, const std::string& outcome, double seconds);
  void first_token(const std::string& endpoint, double seconds);
  // The engine thread: how long a task waited in the queue, and the queue now.
  void queue_wait(double seconds);
  void queue_depth(int64_t depth);
  void running_add(int delta);  // sequences decoding now
  // The scheduler's load (CompletionModel::observe_load): sequences in the
  // batch and requests waiting to join it; and, per decoded request, the
  // batch it joined (itself included).
  void scheduler_load(int running, int queued);
  void batched(int batch_size);
  // One generation's engine account: tokens, passes, drafts per position.
  void generation(const GenerationStats& stats);
  void typeahead_hit();
  void cancellation(const std::string& endpoint);

  // Hooks for the access layer (tokens, limits, session eviction).
  void auth_failure(const std::string& transport);  // "lsp" | "http"
  void eviction(const std::string& what);           // e.g. "session"

  // The access layer's counters (AccessControl counts them; each scrape
  // copies them here), by transport "lsp" | "http":
  //   mtpc_auth_failures_total{transport="lsp"} (HTTP's are counted by HttpApi),
  //   mtpc_rejected_connections_total, mtpc_rate_limited_requests_total,
  //   mtpc_connection_timeouts_total, mtpc_open_connections (a gauge), and
  //   mtpc_evictions_total{what="document"}.
  void watch_access(std::shared_ptr<const AccessControl> access);

 private:
  metrics::Registry registry_;
  metrics::Family<metrics::Histogram>& latency_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& ttft_;
  metrics::Family<metrics::Histogram>& queue_wait_;
  metrics::Family<metrics::Gauge>& queue_depth_;
  metrics::Family<metrics::Gauge>& running_;
  metrics::Family<metrics::Counter>& tokens_;
  metrics::Family<metrics::Counter>& prompt_tokens_;
  metrics::Family<metrics::Counter>& forward_passes_;
  metrics::Family<metrics::Counter>& drafts_;
  metrics::Family<metrics::Counter>& accepted_;
  metrics::Family<metrics::Counter>& accepted_per_pos_;
  metrics::Family<metrics::Counter>& context_drafts_;
  metrics::Family<metrics::Counter>& context_accepted_;
  metrics::Family<metrics::Counter>& typeahead_;
  metrics::Family<metrics::Counter>& cancellations_;
  metrics::Family<metrics::Counter>& auth_failures_;
  metrics::Family<metrics::Counter>& evictions_;
  metrics::Family<metrics::Histogram>& batch_size_;
  metrics::Family<metrics::Counter>& rejected_connections_;
  metrics::Family<metrics::Counter>& rate_limited_;
  metrics::Family<metrics::Counter>& timeouts_;
  metrics::Family<metrics::Gauge>& open_connections_;
  mutable std::mutex access_mu_;  // one copy at a time: counters only go up by the difference
  std::shared_ptr<const AccessControl> access_;
};

}  // namespace mtpc::lsp
