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
#include <memory>
#include <mutex>
#include <vector>

#include "inference/context_lookup.h"
#include "inference/engine.h"
#include "inference/sampling.h"

namespace mtpc {

// Adaptive drafting: per-head conditional acceptance estimates decay with
// this factor per observation.
constexpr double kDraftEstimateDecay = 0.9;
// The longest run of heads whose cumulative acceptance estimate stays at or
// above `min_acceptance`, at least one; 0 when max_draft is 0.
int adaptive_draft_length(const std::vector<double>& estimate, int max_draft, double min_acceptance);
// Cost-aware adaptive drafting: the k in [0, max_draft] with the most
// expected tokens per unit of time, (1 + sum_{i<=k} prod_{j<=i} e_j) /
// step_cost[k], where e_j is head j+2's conditional acceptance estimate and
// step_cost[k] the time of a step with k drafts relative to one without.
// Ties go to the shorter k. step_cost must have max_draft + 1 entries.
// `rate_to_beat` >= 0 replaces k = 0's rate (1 / step_cost[0]): a k > 0
// must beat it, else 0 (context drafts against the heads' plan).
int cost_aware_draft_length(const std::vector<double>& estimate, const std::vector<double>& step_cost,
                            int max_draft, double rate_to_beat = -1);
// While cost-aware drafting has chosen k = 0 (drafts did not pay), every
// kDraftProbeEvery steps drafts one token to keep head 2's estimate
// current; while it drafts, every kBaseProbeEvery steps it takes one step
// without drafts, so that the step costs compare measured times of both.
constexpr int kDraftProbeEvery = 16;
constexpr int kBaseProbeEvery = 32;

// Steps whose wall times make a learned step cost (their median).
constexpr int kStepCostWindow = 15;

// The time of a speculative step with k drafts relative to one without,
// k = 0..max_draft: calibrated at load (Engine::measure_step_costs), then
// learned from the steps decoded: the median wall time of the last
// kStepCostWindow single-sequence steps per k. A k not seen yet is priced
// from its calibrated ratio, scaled by the steps that were seen.
// Thread-safe (the engine's sessions share one).
class StepCostModel {
 public:
  explicit StepCostModel(std::vector<double> calibrated);
  int max_draft() const { return static_cast<int>(calibrated_.size()) - 1; }
  void observe(int k, double ms);
  // [k] = time(k) / time(0).
  std::vector<double> relative() const;
  // Steps without drafts observed so far.
  int64_t observed_without_drafts() const;
  // Head j+2's conditional acceptance across the requests decoded so far
  // (the same decayed mean a drafter keeps, from 1.0): where a new
  // request's drafter starts, instead of trusting every head again.
  // One verification: heads 2..accepted+1 stood, and head accepted+2 was
  // rejected when accepted < checked. One lock per step.
  void observe_verification(int checked, int accepted);
  std::vector<double> acceptance() const;

 private:
  mutable std::mutex mu_;
  const std::vector<double> calibrated_;
  std::vector<double> ms_;                  // [k] the median of recent_[k]
  std::vector<int64_t> n_;                  // [k] steps observed
  std::vector<std::vector<double>> recent_;  // [k] the last kStepCostWindow times
  std::vector<double> acceptance_;  // [j] for head j+2
};

class Drafter {
 public:
  // The drafter `request` asks for on a model with `model_draft` = n_future
  // - 1 draft heads: kGreedy drafts nothing; kSpeculative drafts
  // draft_length (0: all) greedily; kSampling draws, drafting draft_length
  // (0: nothing). Sampling draws come from one RNG seeded by the request.
  // `costs` (the engine's; may be null): when it covers the draft lengths
  // this request may use and the request is greedy speculative, adaptive
  // and cost_aware_draft, drafting is cost-aware (cost_aware_draft_length)
  // and may choose no drafts. Sampling keeps the acceptance-only rule: its
  // draws depend on k, and a seeded run must repeat exactly.
  //
  // `context_costs` (the engine's; may be null): the costs of steps whose
  // drafts come from the context (context_lookup.h), k = 0..
  // kContextMaxDraft, and those drafts' acceptance across requests. When
  // given, and the request is greedy speculative, adaptive, cost-aware
  // (or the model has no draft heads) and context_draft, each step drafts
  // from the context instead of the heads whenever that promises more
  // tokens per unit of time.
  Drafter(const GenerationRequest& request, int model_draft, double adaptive_min_acceptance,
          std::shared_ptr<StepCostModel> costs = nullptr, std::shared_ptr<StepCostModel> context_costs = nullptr);
  // The step costs this drafter weighs and feeds; null when it does not.
  StepCostModel* costs() const { return costs_.get(); }
  // Whether this drafter may draft from the context (plan() does something).
  bool context_drafting() const { return context_costs_ != nullptr; }

  // Before each drafting point, with the sequence's tokens so far and the
  // pending token last: learns how the previous context proposal fared
  // against the tokens that followed (whether or not it was fed), looks up
  // a new one, and either takes it as this step's drafts (then
  // draft_length() is 0: no head runs) or leaves drafting to the heads.
  void plan(const std::vector<int32_t>& history);
  // The current drafts came from the context, not the heads.
  bool drafts_from_context() const { return from_context_; }
  // A single-sequence step's cost, to the cost model of the kind of drafts
  // it fed (both when it fed none): the wall time of its verifying pass
  // plus that of the drafting which made its drafts (the decoder times
  // each; the drafting a step does for the next pass is the next step's).
  void observe_step_time(int fed_drafts, bool fed_context, double ms);

  // Draft heads to run at the next drafting point.
  int draft_length() const { return from_context_ ? 0 : k_; }
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
  const std::shared_ptr<StepCostModel> costs_;  // null: acceptance-only adaptive rule
  int k_;
  int steps_without_drafts_ = 0;  // cost-aware k = 0 run, for the probe
  int steps_with_drafts_ = 0;     // cost-aware k > 0 run, for the base probe
  Rng rng_;
  std::vector<double> estimate_;  // per head: decayed acceptance given all earlier drafts stood
  std::vector<int32_t> drafts_;
  std::vector<std::vector<double>> draft_dists_;  // sampling: the distribution each draft was drawn from

  // Context drafting (null: off).
  const std::shared_ptr<StepCostModel> context_costs_;
  std::vector<double> context_estimate_;  // per draft position, conditional, as estimate_
  std::vector<int32_t> shadow_;           // the last context proposal, fed or not
  size_t shadow_at_ = 0;                  // history length when it was proposed
  bool from_context_ = false;
};

}  // namespace mtpc
