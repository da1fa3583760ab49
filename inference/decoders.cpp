// The decoding loops. Positions: the session holds n processed tokens (rows
// 0..n-1); the token `t` about to be fed goes at position n.
#include <algorithm>

#include "inference/sampling.h"
#include "inference/session_state.h"
#include "model/network/config.h"

namespace mtpc {
namespace {

using Clock = std::chrono::steady_clock;

int32_t argmax_row(const torch::Tensor& logits, int64_t row) {
  return static_cast<int32_t>(logits[row].argmax().item<int64_t>());
}

int64_t capacity(const DecodeContext& ctx) { return ctx.session.cache.capacity; }

// Argmax of every row of CPU float logits [rows, vocab], in one call.
std::vector<int32_t> argmax_rows(const torch::Tensor& logits) {
  auto best = logits.argmax(-1).contiguous();
  const int64_t* p = best.data_ptr<int64_t>();
  return std::vector<int32_t>(p, p + best.numel());
}

}  // namespace

bool interrupted(DecodeContext& ctx) {
  if (ctx.request.cancel && ctx.request.cancel->cancelled()) {
    ctx.rules.stop(StopReason::kCancelled);
    return true;
  }
  if (ctx.request.deadline && Clock::now() >= *ctx.request.deadline) {
    ctx.rules.stop(StopReason::kDeadline);
    return true;
  }
  return false;
}

bool emit(DecodeContext& ctx, const int32_t* tokens, size_t count) {
  for (size_t i = 0; i < count && !ctx.rules.stopped(); ++i) ctx.rules.push(tokens[i]);
  stream_settled(ctx);
  return ctx.rules.stopped();
}

int adaptive_draft_length(const std::vector<double>& estimate, int max_draft, double min_acceptance) {
  if (max_draft == 0) return 0;  // plain sampling
  int k = 1;
  double cumulative = 1.0;
  for (int j = 0; j < max_draft; ++j) {
    cumulative *= estimate[j];
    if (cumulative < min_acceptance) break;
    k = j + 1;
  }
  return k;
}

void stream_settled(DecodeContext& ctx) {
  const size_t settled = ctx.rules.settled_length();
  if (ctx.request.on_chunk && settled > ctx.streamed) {
    ctx.request.on_chunk(std::string_view(ctx.rules.text()).substr(ctx.streamed, settled - ctx.streamed));
    ctx.streamed = settled;
  }
}

// The reference: one token per forward pass, head 1 only.
Status decode_greedy(DecodeContext& ctx, torch::Tensor last_hidden) {
  auto& e = ctx.engine;
  auto& s = ctx.session;
  int64_t n = static_cast<int64_t>(s.tokens.size());
  auto logits = e.logits(e.head(s, 0, last_hidden, n - 1), n - 1);
  if (!logits.ok()) return logits.status();
  ctx.stats.forward_passes = 1;  // the prompt's pass
  int32_t next = argmax_row(*logits, 0);
  while (!emit(ctx, &next, 1)) {
    if (n >= capacity(ctx)) {
      ctx.rules.stop(StopReason::kContextFull);
      break;
    }
    if (interrupted(ctx)) break;
    auto hidden = e.feed(s, {next}, n);
    ++ctx.stats.forward_passes;
    logits = e.logits(e.head(s, 0, hidden, n), n);
    if (!logits.ok()) return logits.status();
    ++n;
    next = argmax_row(*logits, 0);
  }
  return Status::Ok();
}

namespace {

// Self-speculative decoding, greedy or sampling. Each pass feeds the pending
// token t and drafts d1..dk, verifies the drafts with head 1, keeps the
// accepted prefix, rolls the cache back past the rest, and drafts again from
// the heads at the last accepted position.
class DraftingDecoder {
 public:
  DraftingDecoder(DecodeContext& ctx, int max_draft, bool greedy)
      : ctx_(ctx), e_(ctx.engine), s_(ctx.session), max_draft_(max_draft), greedy_(greedy),
        rng_(ctx.request.sampling.seed), estimate_(max_draft, 1.0) {}

  Status run(torch::Tensor last_hidden) {
    int64_t n = static_cast<int64_t>(s_.tokens.size());
    int k = max_draft_;
    auto l0 = e_.logits(e_.head(s_, 0, last_hidden, n - 1), n - 1);
    if (!l0.ok()) return l0.status();
    ctx_.stats.forward_passes = 1;
    int32_t t = pick(*l0, 0);
    if (Status st = draft(last_hidden, n - 1, k); !st.ok()) return st;

    while (!emit(ctx_, &t, 1)) {
      if (n >= capacity(ctx_)) {
        ctx_.rules.stop(StopReason::kContextFull);
        break;
      }
      if (interrupted(ctx_)) break;
      const int kk = static_cast<int>(std::min<int64_t>(drafts_.size(), capacity(ctx_) - n - 1));
      std::vector<int32_t> fed = {t};
      fed.insert(fed.end(), drafts_.begin(), drafts_.begin() + kk);
      auto hidden = e_.feed(s_, fed, n);
      ++ctx_.stats.forward_passes;
      auto verify = e_.logits(e_.head(s_, 0, hidden, n), n);
      if (!verify.ok()) return verify.status();

      int accepted = 0;
      int32_t next = -1;
      std::vector<int32_t> best;  // head 1's argmax per fed position (greedy)
      if (greedy_) best = argmax_rows(*verify);
      for (int j = 0; j < kk; ++j) {
        ++ctx_.stats.proposed[j];
        bool ok;
        if (greedy_) {
          ok = best[j] == drafts_[j];
        } else {
          auto p = distribution(*verify, j);
          SpeculativeOutcome out = speculative_accept(p, draft_dists_[j], drafts_[j], rng_);
          ok = out.accepted;
          if (!ok) next = out.token;
        }
        estimate_[j] = kDraftEstimateDecay * estimate_[j] + (1 - kDraftEstimateDecay) * (ok ? 1.0 : 0.0);
        if (!ok) break;
        ++ctx_.stats.accepted[j];
        ++accepted;
      }
      if (next < 0) next = greedy_ ? best[accepted] : pick(*verify, accepted);
      s_.truncate(n + accepted + 1);  // rows of t and the accepted drafts stay
      const int64_t pass_start = n;
      n += accepted + 1;
      if (emit(ctx_, drafts_.data(), accepted)) break;
      t = next;
      if (ctx_.request.adaptive_draft) k = adaptive_k();
      if (Status st = draft(hidden.narrow(1, 0, accepted + 1), pass_start, k); !st.ok()) return st;
    }
    return Status::Ok();
  }

 private:
  std::vector<double> distribution(const torch::Tensor& logits, int64_t row) const {
    auto r = logits[row].contiguous();
    return sampling_distribution(r.data_ptr<float>(), static_cast<int>(r.numel()), ctx_.request.sampling);
  }

  int32_t pick(const torch::Tensor& logits, int64_t row) {
    if (greedy_) return argmax_row(logits, row);
    return sample_index(distribution(logits, row), rng_);
  }

  // Drafts from heads 1..k at the last of `hidden`'s rows (positions start..).
  Status draft(const torch::Tensor& hidden, int64_t start, int k) {
    drafts_.clear();
    draft_dists_.clear();
    if (k == 0) return Status::Ok();
    const int64_t last = hidden.size(1) - 1;
    torch::Tensor states;  // [1, k, dim]: heads 2..k+1 at the last row
    if (e_.mlp_heads) {
      // No caches to fill: heads 2..k+1 at the last row only, in one call.
      states = e_.mlp_heads->states(hidden.select(0, 0).narrow(0, last, 1), 1, k).reshape({1, k, -1});
    } else {
      // Transformer heads run on all rows (their caches need them).
      std::vector<torch::Tensor> rows;
      for (int i = 1; i <= k; ++i) rows.push_back(e_.head(s_, i, hidden, start).narrow(1, last, 1));
      states = torch::cat(rows, 1);
    }
    // One shared unembedding call covers every head's row.
    auto l = e_.logits(states, start + last);
    if (!l.ok()) return l.status();
    if (greedy_) {
      drafts_ = argmax_rows(*l);
      return Status::Ok();
    }
    for (int i = 0; i < k; ++i) {
      draft_dists_.push_back(distribution(*l, i));
      drafts_.push_back(sample_index(draft_dists_.back(), rng_));
    }
    return Status::Ok();
  }

  int adaptive_k() const {
    return adaptive_draft_length(estimate_, max_draft_, e_.options.adaptive_min_acceptance);
  }

  DecodeContext& ctx_;
  Engine::Impl& e_;
  Session::State& s_;
  const int max_draft_;
  const bool greedy_;
  Rng rng_;
  std::vector<double> estimate_;
  std::vector<int32_t> drafts_;
  std::vector<std::vector<double>> draft_dists_;
};

}  // namespace

Status decode_speculative(DecodeContext& ctx, torch::Tensor last_hidden, int max_draft) {
  return DraftingDecoder(ctx, max_draft, /*greedy=*/true).run(last_hidden);
}

Status decode_sampling(DecodeContext& ctx, torch::Tensor last_hidden, int max_draft) {
  return DraftingDecoder(ctx, max_draft, /*greedy=*/false).run(last_hidden);
}

}  // namespace mtpc
