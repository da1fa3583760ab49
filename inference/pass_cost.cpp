// Engine::measure_pass_costs: how a pass's time grows with its rows. A
// speculative step with k drafts runs k+1 rows through the trunk where a
// greedy step runs one, so the (k+1)-row / 1-row ratio against the tokens a
// pass yields decides whether drafting pays on a device.
#include <algorithm>
#include <chrono>

#include "inference/session_state.h"

namespace mtpc {

Result<std::vector<double>> Engine::measure_pass_costs(int max_rows, int context, int repeats) const {
  const ModelConfig& c = impl_->model->config();
  if (max_rows < 1 || context < 1 || repeats < 1)
    return Status::Error("measure_pass_costs: max_rows, context and repeats must be >= 1");
  if (static_cast<int64_t>(context) + max_rows > c.max_seq_len)
    return Status::Error("measure_pass_costs: context " + std::to_string(context) + " + " +
                         std::to_string(max_rows) + " rows exceeds max_seq_len " + std::to_string(c.max_seq_len));
  auto session = new_session();
  if (!session.ok()) return session.status();
  try {
    c10::InferenceMode inference_mode;
    Session::State& s = SessionAccess::state(*session);
    // Token ids do not change the arithmetic; spread them over the
    // tokenizer's vocabulary so no row is a degenerate repeat.
    const int64_t vocab = std::max(1, std::min(c.vocab_size, impl_->tokenizer->vocab_size()));
    auto id = [vocab](int64_t i) { return static_cast<int32_t>((i * 7919 + 13) % vocab); };
    std::vector<int32_t> prompt(context);
    for (int i = 0; i < context; ++i) prompt[i] = id(i);
    impl_->feed(s, prompt, 0);
    std::vector<double> costs;
    for (int rows = 1; rows <= max_rows; ++rows) {
      std::vector<int32_t> tokens(rows);
      for (int r = 0; r < rows; ++r) tokens[r] = id(context + r);
      std::vector<double> times;
      for (int rep = 0; rep <= repeats; ++rep) {
        impl_->synchronize();
        const auto t0 = std::chrono::steady_clock::now();
        // feed() rolls the session back to `context` first; the first head()
        // call also brings the head's cache up to `context` (untimed rep).
        auto hidden = impl_->feed(s, tokens, context);
        auto logits = impl_->model->logits(impl_->head(s, 0, hidden, context));
        impl_->synchronize();
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (rep > 0) times.push_back(ms);  // the first pass of each size warms up
        (void)logits;
      }
      std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
      costs.push_back(times[times.size() / 2]);
    }
    s.truncate(0);
    return costs;
  } catch (const std::exception& e) {
    return Status::Error(std::string("measure_pass_costs: ") + e.what());
  }
}

Result<std::vector<double>> Engine::measure_step_costs(int max_draft, int context, int repeats) const {
  const ModelConfig& c = impl_->model->config();
  if (max_draft < 0 || max_draft > c.n_future - 1 || context < 1 || repeats < 1)
    return Status::Error("measure_step_costs: max_draft must be in [0, n_future - 1], context and repeats >= 1");
  if (static_cast<int64_t>(context) + max_draft + 1 > c.max_seq_len)
    return Status::Error("measure_step_costs: context " + std::to_string(context) + " + " +
                         std::to_string(max_draft + 1) + " rows exceeds max_seq_len " + std::to_string(c.max_seq_len));
  auto session = new_session();
  if (!session.ok()) return session.status();
  try {
    c10::InferenceMode inference_mode;
    Session::State& s = SessionAccess::state(*session);
    const int64_t vocab = std::max(1, std::min(c.vocab_size, impl_->tokenizer->vocab_size()));
    auto id = [vocab](int64_t i) { return static_cast<int32_t>((i * 7919 + 13) % vocab); };
    std::vector<int32_t> prompt(context);
    for (int i = 0; i < context; ++i) prompt[i] = id(i);
    impl_->feed(s, prompt, 0);
    std::vector<double> costs;
    for (int k = 0; k <= max_draft; ++k) {
      std::vector<int32_t> tokens(k + 1);
      for (int r = 0; r <= k; ++r) tokens[r] = id(context + r);
      std::vector<double> times;
      for (int rep = 0; rep <= repeats; ++rep) {
        impl_->synchronize();
        const auto t0 = std::chrono::steady_clock::now();
        // As the decoder's step: verify with head 1 over every row, then
        // draft from the last row with heads 2..k+1.
        auto hidden = impl_->feed(s, tokens, context);
        auto verify = impl_->model->logits(impl_->head(s, 0, hidden, context));
        std::vector<torch::Tensor> drafts;
        if (k > 0) {
          if (impl_->mlp_heads) {
            auto last = hidden.select(0, 0).narrow(0, hidden.size(1) - 1, 1);
            drafts.push_back(impl_->model->logits(impl_->mlp_heads->states(last, 1, k)));
          } else {
            for (int h = 1; h <= k; ++h) {
              auto st = impl_->head(s, h, hidden, context);
              drafts.push_back(impl_->model->logits(st.narrow(1, st.size(1) - 1, 1)));
            }
          }
        }
        impl_->synchronize();
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (rep > 0) times.push_back(ms);  // the first run of each k warms up (and fills head caches)
        (void)verify;
      }
      std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
      costs.push_back(times[times.size() / 2]);
    }
    s.truncate(0);
    return costs;
  } catch (const std::exception& e) {
    return Status::Error(std::string("measure_step_costs: ") + e.what());
  }
}

}  // namespace mtpc
