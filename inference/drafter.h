// The drafter of one sequence: self-speculative drafting and verification.
// Heads 2..k+1 propose k tokens after the pending one; the next pass feeds
// them, head 1 verifies each, the accepted prefix stays and head 1 gives the
// token after it. Greedy drafts are argmaxes checked for equality (output
// identical to next-token greedy); sampled drafts are checked by speculative
// sampling (output distributed as head 1's). With no drafts (k = 0) this is
// plain greedy or plain sampling, one token per pass.
//
// Torch only for reading CPU logits; the forward passes are the decoder's
// (decoder.h). A drafter is used by one thread.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "inference/engine.h"
#include "inference/sampling.h"

namespace mtpc {

// Adaptive drafting: per-head conditional acceptance estimates decay with
// this factor per observation.
constexpr double kDraftEstimateDecay = 0.9;
// The longest run of heads whose cumulative acceptance estimate stays at or
// above `min_acceptance`, at least one; 0 when max_draft is 0.
int adaptive_draft_length(const std::vector<double>& estimate, int max_draft, double min_acceptance);

class Drafter {
 public:
  // The drafter `request` asks for on a model with `model_draft` = n_future
  // - 1 draft heads: kGreedy drafts nothing; kSpeculative drafts
  // draft_length (0: all) greedily; kSampling draws, drafting draft_length
  // (0: nothing). Sampling draws come from one RNG seeded by the request.
  Drafter(const GenerationRequest& request, int model_draft, double adaptive_min_acceptance);

  // Draft heads to run at the next drafting point.
  int draft_length() const { return k_; }
  const std::vector<int32_t>& drafts() const { return drafts_; }
  // The token head 1's logits (CPU float [rows, vocab]) give at `row`:
  // the argmax, or a draw.
  int32_t pick(const torch::Tensor& logits, int64_t row);
  void clear_drafts();
  // Drafts from the draft heads' logits, row i from head i+2.
  void propose(const torch::Tensor& logits);

  struct Verdict {
    int accepted;  // drafts that stand
    int32_t next;  // the token after them, from head 1
  };
  // Checks the first `checked` drafts against head 1's logits over the pass
  // (row 0 at the pending token, row j after draft j). Counts proposals and
  // acceptances per head in `stats` and, when adaptive, sets the next draft
  // length from the updated acceptance estimates.
  Verdict verify(const torch::Tensor& logits, int checked, GenerationStats& stats);

 private:
  std::vector<double> distribution(const torch::Tensor& logits, int64_t row) const;

  const bool greedy_;
  const bool adaptive_;
  const int max_draft_;
  const double min_acceptance_;
  const SamplingParams sampling_;
  int k_;
  Rng rng_;
  std::vector<double> estimate_;  // per head: decayed acceptance given all earlier drafts stood
  std::vector<int32_t> drafts_;
  std::vector<std::vector<double>> draft_dists_;  // sampling: the distribution each draft was drawn from
};

}  // namespace mtpc
