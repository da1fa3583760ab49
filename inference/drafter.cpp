#include "inference/drafter.h"

#include <algorithm>

namespace mtpc {
namespace {

// Argmax of every row of CPU float logits [rows, vocab], in one call.
std::vector<int32_t> argmax_rows(const torch::Tensor& logits) {
  auto best = logits.argmax(-1).contiguous();
  const int64_t* p = best.data_ptr<int64_t>();
  return std::vector<int32_t>(p, p + best.numel());
}

int max_draft_for(const GenerationRequest& r, int model_draft) {
  const int k = r.draft_length == 0 ? model_draft : r.draft_length;
  switch (r.mode) {
    case DecodeMode::kGreedy: return 0;
    case DecodeMode::kSpeculative: return k;
    case DecodeMode::kSampling: return r.draft_length == 0 ? 0 : k;
  }
  return 0;
}

}  // namespace

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

int cost_aware_draft_length(const std::vector<double>& estimate, const std::vector<double>& step_cost,
                            int max_draft, double rate_to_beat) {
  int best = 0;
  double best_rate = rate_to_beat >= 0 ? rate_to_beat : 1.0 / step_cost[0];
  double expected = 1.0, run = 1.0;  // expected tokens per step; P(the first j drafts all stand)
  for (int k = 1; k <= max_draft; ++k) {
    run *= estimate[k - 1];
    expected += run;
    const double rate = expected / step_cost[k];
    if (rate > best_rate * (1 + 1e-9)) {
      best = k;
      best_rate = rate;
    }
  }
  return best;
}

StepCostModel::StepCostModel(std::vector<double> calibrated)
    : calibrated_(std::move(calibrated)), ms_(calibrated_.size(), 0.0), n_(calibrated_.size(), 0),
      recent_(calibrated_.size()),
      acceptance_(calibrated_.empty() ? 0 : calibrated_.size() - 1, 1.0) {}

void StepCostModel::observe_verification(int checked, int accepted) {
  const int seen = std::min(std::min(checked, accepted + 1), static_cast<int>(acceptance_.size()));
  if (seen <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (int j = 0; j < seen; ++j)
    acceptance_[j] = kDraftEstimateDecay * acceptance_[j] + (1 - kDraftEstimateDecay) * (j < accepted ? 1.0 : 0.0);
}

std::vector<double> StepCostModel::acceptance() const {
  std::lock_guard<std::mutex> lock(mu_);
  return acceptance_;
}

void StepCostModel::observe(int k, double ms) {
  if (k < 0 || k > max_draft() || !(ms > 0)) return;
  std::lock_guard<std::mutex> lock(mu_);
  // The median of the last kStepCostWindow steps: a step stretched by a
  // preemption (another process on the core) moves it little.
  std::vector<double>& recent = recent_[k];
  if (recent.size() < static_cast<size_t>(kStepCostWindow)) recent.push_back(ms);
  else recent[n_[k] % kStepCostWindow] = ms;
  ++n_[k];
  std::vector<double> sorted = recent;
  std::sort(sorted.begin(), sorted.end());
  const size_t h = sorted.size() / 2;
  ms_[k] = sorted.size() % 2 == 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
}

int64_t StepCostModel::observed_without_drafts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return n_.empty() ? 0 : n_[0];
}

std::vector<double> StepCostModel::relative() const {
  std::lock_guard<std::mutex> lock(mu_);
  // The time of a step without drafts: measured, else inferred from the
  // steps seen through their calibrated ratios.
  double base = 0;
  if (n_[0] > 0) {
    base = ms_[0];
  } else {
    double sum = 0;
    int seen = 0;
    for (size_t k = 1; k < ms_.size(); ++k)
      if (n_[k] > 0 && calibrated_[k] > 0) {
        sum += ms_[k] / calibrated_[k];
        ++seen;
      }
    if (seen == 0) return calibrated_;
    base = sum / seen;
  }
  std::vector<double> out(ms_.size());
  for (size_t k = 0; k < ms_.size(); ++k) out[k] = (n_[k] > 0 ? ms_[k] : calibrated_[k] * base) / base;
  return out;
}

Drafter::Drafter(const GenerationRequest& request, int model_draft, double adaptive_min_acceptance,
                 std::shared_ptr<StepCostModel> costs, std::shared_ptr<StepCostModel> context_costs)
    : greedy_(request.mode != DecodeMode::kSampling), adaptive_(request.adaptive_draft),
      max_draft_(max_draft_for(request, model_draft)), min_acceptance_(adaptive_min_acceptance),
      sampling_(request.sampling),
      // Greedy only: its tokens are the same for every k, while a sampled
      // stream depends on k, and k chosen from timings would make a seeded
      // run irreproducible.
      costs_(greedy_ && adaptive_ && request.cost_aware_draft && max_draft_ > 0 && costs &&
                     costs->max_draft() >= max_draft_
                 ? std::move(costs)
                 : nullptr),
      k_(max_draft_), rng_(request.sampling.seed), estimate_(max_draft_, 1.0),
      // Greedy speculative only (outputs identical whatever is drafted), and
      // only where the heads' side is priced too (or there are no heads).
      context_costs_(request.mode == DecodeMode::kSpeculative && adaptive_ && request.cost_aware_draft &&
                             request.context_draft && context_costs && context_costs->max_draft() >= 1 &&
                             (max_draft_ == 0 || costs_)
                         ? std::move(context_costs)
                         : nullptr) {
  if (context_costs_) context_estimate_ = context_costs_->acceptance();
  if (costs_) {
    const std::vector<double> prior = costs_->acceptance();
    for (int j = 0; j < max_draft_; ++j) estimate_[j] = prior[j];
    k_ = cost_aware_draft_length(estimate_, costs_->relative(), max_draft_);
  }
}

std::vector<double> Drafter::distribution(const torch::Tensor& logits, int64_t row) const {
  auto r = logits[row].contiguous();
  return sampling_distribution(r.data_ptr<float>(), static_cast<int>(r.numel()), sampling_);
}

int32_t Drafter::pick(const torch::Tensor& logits, int64_t row) {
  if (greedy_) return static_cast<int32_t>(logits[row].argmax().item<int64_t>());
  return sample_index(distribution(logits, row), rng_);
}

void Drafter::clear_drafts() {
  drafts_.clear();
  draft_dists_.clear();
}

void Drafter::propose(const torch::Tensor& logits) {
  clear_drafts();
  if (greedy_) {
    drafts_ = argmax_rows(logits);
    return;
  }
  for (int64_t i = 0; i < logits.size(0); ++i) {
    draft_dists_.push_back(distribution(logits, i));
    drafts_.push_back(sample_index(draft_dists_.back(), rng_));
  }
}

namespace {

// Expected tokens per unit of time of a step with k drafts whose
// conditional acceptances are `estimate`, at relative cost step_cost[k].
double draft_rate(const std::vector<double>& estimate, const std::vector<double>& step_cost, int k) {
  double expected = 1.0, run = 1.0;
  for (int j = 0; j < k; ++j) {
    run *= estimate[j];
    expected += run;
  }
  return expected / step_cost[k];
}

}  // namespace

void Drafter::plan(const std::vector<int32_t>& history) {
  if (!context_costs_) return;
  // The previous proposal against what followed: positions up to the first
  // wrong token are judged; later ones wait for a proposal that gets there.
  if (!shadow_.empty() && history.size() > shadow_at_) {
    const size_t known = std::min(shadow_.size(), history.size() - shadow_at_);
    int matched = 0;
    while (static_cast<size_t>(matched) < known && shadow_[matched] == history[shadow_at_ + matched]) ++matched;
    const int checked = static_cast<size_t>(matched) < known ? matched + 1 : matched;
    for (int j = 0; j < checked; ++j)
      context_estimate_[j] =
          kDraftEstimateDecay * context_estimate_[j] + (1 - kDraftEstimateDecay) * (j < matched ? 1.0 : 0.0);
    context_costs_->observe_verification(checked, matched);
  }
  from_context_ = false;
  ContextMatch match = find_context_match(history.data(), static_cast<int64_t>(history.size()));
  shadow_ = std::move(match.continuation);
  shadow_at_ = history.size();
  if (shadow_.empty()) return;
  const std::vector<double> cost = context_costs_->relative();
  const int most = std::min(static_cast<int>(shadow_.size()), context_costs_->max_draft());
  // The context's best draft length, against the heads' plan priced the
  // same way (no heads: a plain step).
  const double heads_rate = costs_ ? draft_rate(estimate_, costs_->relative(), k_) : 1.0 / cost[0];
  const int best = cost_aware_draft_length(context_estimate_, cost, most, heads_rate);
  if (best == 0) return;
  clear_drafts();
  drafts_.assign(shadow_.begin(), shadow_.begin() + best);
  from_context_ = true;
}

void Drafter::observe_step_time(int fed_drafts, bool fed_context, double ms) {
  if (fed_drafts == 0 || !fed_context) {
    if (costs_) costs_->observe(fed_drafts, ms);
  }
  if (context_costs_ && (fed_drafts == 0 || fed_context)) context_costs_->observe(fed_drafts, ms);
}

Drafter::Verdict Drafter::verify(const torch::Tensor& logits, int checked, GenerationStats& stats) {
  if (from_context_) {
    // Greedy only. Counted apart from the heads' drafts; the acceptance
    // estimates learn at the next plan(), from the same tokens.
    const std::vector<int32_t> best = argmax_rows(logits);
    int accepted = 0;
    while (accepted < checked && best[accepted] == drafts_[accepted]) ++accepted;
    stats.context_proposed += checked;
    stats.context_accepted += accepted;
    return {accepted, best[accepted]};
  }
  int accepted = 0;
  int32_t next = -1;
  std::vector<int32_t> best;  // head 1's argmax per fed position (greedy)
  if (greedy_) best = argmax_rows(logits);
  for (int j = 0; j < checked; ++j) {
    ++stats.proposed[j];
    bool ok;
    if (greedy_) {
      ok = best[j] == drafts_[j];
    } else {
      SpeculativeOutcome out = speculative_accept(distribution(logits, j), draft_dists_[j], drafts_[j], rng_);
      ok = out.accepted;
      if (!ok) next = out.token;
    }
    estimate_[j] = kDraftEstimateDecay * estimate_[j] + (1 - kDraftEstimateDecay) * (ok ? 1.0 : 0.0);
    if (!ok) break;
    ++stats.accepted[j];
    ++accepted;
  }
  if (next < 0) next = greedy_ ? best[accepted] : pick(logits, accepted);
  if (costs_) costs_->observe_verification(checked, accepted);
  if (costs_) {
    k_ = cost_aware_draft_length(estimate_, costs_->relative(), max_draft_);
    if (k_ == 0) {
      // Without drafts the estimates no longer move: probe with one now
      // and then, so that drafting resumes when it pays again.
      steps_with_drafts_ = 0;
      if (++steps_without_drafts_ >= kDraftProbeEvery) {
        k_ = 1;
        steps_without_drafts_ = 0;
      }
    } else {
      // And the other way: a step without drafts now and then, so that the
      // costs compare a measured plain step, not only the calibration.
      steps_without_drafts_ = 0;
      if (++steps_with_drafts_ >= kBaseProbeEvery) {
        k_ = 0;
        steps_with_drafts_ = 0;
      }
    }
  } else if (adaptive_) {
    k_ = adaptive_draft_length(estimate_, max_draft_, min_acceptance_);
  }
  return {accepted, next};
}

}  // namespace mtpc
