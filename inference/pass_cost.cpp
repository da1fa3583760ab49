// Engine::measure_pass_costs: how a pass's time grows with its rows. A
// speculative step with k drafts runs k+1 rows through the trunk where a
// greedy step runs one, so the (k+1)-row / 1-row ratio against the tokens a
// pass yields decides whether drafting pays on a device.
#include <algorithm>
#include <chrono>

#include "inference/session_state.h"

namespace mtpc {
namespace {

// The harness both measurements share: `context` cached tokens in a fresh
// session, then for each n in [first, last] the median over `repeats` runs
// (after one untimed warm-up run) of run(s, tokens n, context), where
// `tokens` are rows(n) ids continuing the context.
template <typename Run>
Result<std::vector<double>> time_passes(const Engine& engine, Engine::Impl& impl, const char* what, int first,
                                        int last, int context, int repeats, int (*rows)(int), Run run) {
  const ModelConfig& c = impl.model->config();
  if (static_cast<int64_t>(context) + rows(last) > c.max_seq_len)
    return Status::Error(std::string(what) + ": context " + std::to_string(context) + " + " +
                         std::to_string(rows(last)) + " rows exceeds max_seq_len " + std::to_string(c.max_seq_len));
  auto session = engine.new_session();
  if (!session.ok()) return session.status();
  try {
    c10::InferenceMode inference_mode;
    Session::State& s = SessionAccess::state(*session);
    // Token ids do not change the arithmetic; spread them over the
    // tokenizer's vocabulary so no row is a degenerate repeat.
    const int64_t vocab = std::max(1, std::min(c.vocab_size, impl.tokenizer->vocab_size()));
    auto id = [vocab](int64_t i) { return static_cast<int32_t>((i * 7919 + 13) % vocab); };
    std::vector<int32_t> prompt(context);
    for (int i = 0; i < context; ++i) prompt[i] = id(i);
    impl.feed(s, prompt, 0);
    std::vector<double> costs;
    for (int n = first; n <= last; ++n) {
      std::vector<int32_t> tokens(rows(n));
      for (size_t r = 0; r < tokens.size(); ++r) tokens[r] = id(context + static_cast<int64_t>(r));
      std::vector<double> times;
      for (int rep = 0; rep <= repeats; ++rep) {
        impl.synchronize();
        const auto t0 = std::chrono::steady_clock::now();
        // feed() rolls the session back to `context` first; the first head()
        // call also brings a head's cache up to `context` (the untimed run).
        run(s, tokens, context);
        impl.synchronize();
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (rep > 0) times.push_back(ms);
      }
      std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
      costs.push_back(times[times.size() / 2]);
    }
    s.truncate(0);
    return costs;
  } catch (const std::exception& e) {
    return Status::Error(std::string(what) + ": " + e.what());
  }
}

}  // namespace

Result<std::vector<double>> Engine::measure_pass_costs(int max_rows, int context, int repeats) const {
  if (max_rows < 1 || context < 1 || repeats < 1)
    return Status::Error("measure_pass_costs: max_rows, context and repeats must be >= 1");
  Impl& impl = *impl_;
  return time_passes(*this, impl, "measure_pass_costs", 1, max_rows, context, repeats, [](int n) { return n; },
                     [&impl](Session::State& s, const std::vector<int32_t>& tokens, int64_t start) {
                       auto hidden = impl.feed(s, tokens, start);
                       (void)impl.model->logits(impl.head(s, 0, hidden, start));
                     });
}

Result<std::vector<double>> Engine::measure_step_costs(int max_draft, int context, int repeats) const {
  const ModelConfig& c = impl_->model->config();
  if (max_draft < 0 || max_draft > c.n_future - 1 || context < 1 || repeats < 1)
    return Status::Error("measure_step_costs: max_draft must be in [0, n_future - 1], context and repeats >= 1");
  Impl& impl = *impl_;
  return time_passes(*this, impl, "measure_step_costs", 0, max_draft, context, repeats, [](int k) { return k + 1; },
                     [&impl](Session::State& s, const std::vector<int32_t>& tokens, int64_t start) {
                       // As the decoder's step: verify with head 1 over every
                       // row, then draft from the last row with heads 2..k+1.
                       const int k = static_cast<int>(tokens.size()) - 1;
                       auto hidden = impl.feed(s, tokens, start);
                       (void)impl.model->logits(impl.head(s, 0, hidden, start));
                       if (k == 0) return;
                       if (impl.mlp_heads) {
                         auto last = hidden.select(0, 0).narrow(0, hidden.size(1) - 1, 1);
                         (void)impl.model->logits(impl.mlp_heads->states(last, 1, k));
                         return;
                       }
                       for (int h = 1; h <= k; ++h) {
                         auto st = impl.head(s, h, hidden, start);
                         (void)impl.model->logits(st.narrow(1, st.size(1) - 1, 1));
                       }
                     });
}

}  // namespace mtpc
