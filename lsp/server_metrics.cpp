#include "lsp/server_metrics.h"

#include "lsp/access.h"

namespace mtpc::lsp {

namespace {
// Time to first token and queue waits are shorter than whole requests.
std::vector<double> short_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
}
}  // namespace

ServerMetrics::ServerMetrics()
    : latency_(registry_.histogram("mtpc_request_duration_seconds",
                                   "Time from a request's arrival to its answer, by endpoint (HTTP path or LSP "
                                   "method) and outcome.",
                                   metrics::latency_buckets(), {"endpoint", "outcome"})),
      requests_(registry_.counter("mtpc_requests_total", "Requests answered, by endpoint and outcome.",
                                  {"endpoint", "outcome"})),
      ttft_(registry_.histogram("mtpc_time_to_first_token_seconds",
                                "Time from a request's arrival to its first generated text.", short_buckets(),
                                {"endpoint"})),
      queue_wait_(registry_.histogram("mtpc_queue_wait_seconds",
                                      "Time a request waited from its arrival until it joined the batch (or "
                                      "was answered without decoding).",
                                      short_buckets())),
      queue_depth_(registry_.gauge("mtpc_queue_depth", "Requests waiting to join the batch.")),
      running_(registry_.gauge("mtpc_running_sequences", "Sequences decoding now.")),
      tokens_(registry_.counter("mtpc_generation_tokens_total", "Tokens generated.")),
      prompt_tokens_(registry_.counter("mtpc_prompt_tokens_total",
                                       "Prompt tokens computed (tokens reused from a session's cache excluded).")),
      forward_passes_(registry_.counter("mtpc_forward_passes_total", "Model forward passes, prefill included.")),
      drafts_(registry_.counter("mtpc_spec_decode_num_draft_tokens_total",
                                "Tokens drafted by the extra heads for verification.")),
      accepted_(registry_.counter("mtpc_spec_decode_num_accepted_tokens_total",
                                  "Drafted tokens the next-token head accepted.")),
      accepted_per_pos_(registry_.counter("mtpc_spec_decode_num_accepted_tokens_per_pos_total",
                                          "Drafted tokens accepted, by draft position (1: the first draft).",
                                          {"position"})),
      context_drafts_(registry_.counter(
          "mtpc_spec_decode_context_draft_tokens_total",
          "Tokens drafted from the context (what followed an earlier occurrence of the last tokens), verified.")),
      context_accepted_(registry_.counter("mtpc_spec_decode_context_accepted_tokens_total",
                                          "Context-drafted tokens the next-token head accepted.")),
      typeahead_(registry_.counter("mtpc_typeahead_hits_total",
                                   "Completions answered from the completion last shown (no model run).")),
      cancellations_(registry_.counter("mtpc_cancellations_total", "Requests cancelled, by endpoint.", {"endpoint"})),
      auth_failures_(registry_.counter("mtpc_auth_failures_total", "Rejected credentials, by transport.",
                                       {"transport"})),
      evictions_(registry_.counter("mtpc_evictions_total", "Per-user state evicted under limits, by kind.",
                                   {"what"})),
      batch_size_(registry_.histogram("mtpc_batch_size",
                                      "Sequences decoding together when a request joined the batch (itself "
                                      "included; 1: alone).",
                                      {1, 2, 4, 8, 16, 32, 64})),
      rejected_connections_(registry_.counter(
          "mtpc_rejected_connections_total",
          "Connections refused over --max-connections or --max-connections-per-user, by transport.", {"transport"})),
      rate_limited_(registry_.counter("mtpc_rate_limited_requests_total",
                                      "Requests refused by the per-user --requests-per-minute bucket, by transport.",
                                      {"transport"})),
      timeouts_(registry_.counter("mtpc_connection_timeouts_total",
                                  "Connections closed idle, slow or unauthenticated past their timeout, by transport.",
                                  {"transport"})),
      open_connections_(registry_.gauge("mtpc_open_connections", "Open connections, by transport.", {"transport"})) {
  // Present from the start, so a scrape before any traffic sees them at 0.
  queue_depth_.with({}).set(0);
  running_.with({}).set(0);
  tokens_.with({});
  prompt_tokens_.with({});
  forward_passes_.with({});
  drafts_.with({});
  accepted_.with({});
  context_drafts_.with({});
  context_accepted_.with({});
  typeahead_.with({});
}

void ServerMetrics::request_done(const std::string& endpoint, const std::string& outcome, double seconds) {
  latency_.with({endpoint, outcome}).observe(seconds);
  requests_.with({endpoint, outcome}).inc();
}

void ServerMetrics::first_token(const std::string& endpoint, double seconds) { ttft_.with({endpoint}).observe(seconds); }

void ServerMetrics::queue_wait(double seconds) { queue_wait_.with({}).observe(seconds); }

void ServerMetrics::queue_depth(int64_t depth) { queue_depth_.with({}).set(static_cast<double>(depth)); }

void ServerMetrics::running_add(int delta) { running_.with({}).add(delta); }

void ServerMetrics::scheduler_load(int running, int queued) {
  running_.with({}).set(running);
  queue_depth_.with({}).set(queued);
}

void ServerMetrics::batched(int batch_size) { batch_size_.with({}).observe(batch_size); }

void ServerMetrics::generation(const GenerationStats& stats) {
  tokens_.with({}).inc(static_cast<double>(stats.tokens));
  prompt_tokens_.with({}).inc(static_cast<double>(stats.prefill_tokens));
  forward_passes_.with({}).inc(static_cast<double>(stats.forward_passes));
  int64_t proposed = 0, accepted = 0;
  for (int64_t p : stats.proposed) proposed += p;
  for (size_t i = 0; i < stats.accepted.size(); ++i) {
    accepted += stats.accepted[i];
    accepted_per_pos_.with({std::to_string(i + 1)}).inc(static_cast<double>(stats.accepted[i]));
  }
  drafts_.with({}).inc(static_cast<double>(proposed));
  accepted_.with({}).inc(static_cast<double>(accepted));
  context_drafts_.with({}).inc(static_cast<double>(stats.context_proposed));
  context_accepted_.with({}).inc(static_cast<double>(stats.context_accepted));
}

void ServerMetrics::typeahead_hit() { typeahead_.with({}).inc(); }

void ServerMetrics::cancellation(const std::string& endpoint) { cancellations_.with({endpoint}).inc(); }

void ServerMetrics::auth_failure(const std::string& transport) { auth_failures_.with({transport}).inc(); }

void ServerMetrics::eviction(const std::string& what) { evictions_.with({what}).inc(); }

void ServerMetrics::watch_access(std::shared_ptr<const AccessControl> access) {
  std::lock_guard<std::mutex> lock(access_mu_);
  access_ = std::move(access);
}

namespace {
void raise_to(metrics::Counter& counter, uint64_t value) {
  const double missing = static_cast<double>(value) - counter.value();
  if (missing > 0) counter.inc(missing);
}
}  // namespace

std::string ServerMetrics::render() const {
  {
    std::lock_guard<std::mutex> lock(access_mu_);
    if (access_) {
      for (const std::string& transport : {kLsp, kHttp}) {
        const AccessStats a = access_->stats(transport);
        // HttpApi counts HTTP's refusals itself (with those the Bearer hook
        // turns away before AccessControl sees a token).
        if (transport == kLsp) raise_to(auth_failures_.with({transport}), a.auth_failures);
        raise_to(rejected_connections_.with({transport}), a.rejected_connections);
        raise_to(rate_limited_.with({transport}), a.rate_limited);
        raise_to(timeouts_.with({transport}), a.timeouts);
        open_connections_.with({transport}).set(static_cast<double>(a.open_connections));
      }
      raise_to(evictions_.with({"document"}), access_->stats().evictions);
    }
  }
  return registry_.render();
}

}  // namespace mtpc::lsp
