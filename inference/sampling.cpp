#include "inference/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mtpc {

std::vector<double> sampling_distribution(const float* logits, int vocab, const SamplingParams& sp) {
  std::vector<double> p(vocab);
  double max_logit = -INFINITY;
  for (int i = 0; i < vocab; ++i) max_logit = std::max(max_logit, static_cast<double>(logits[i]));
  double sum = 0;
  for (int i = 0; i < vocab; ++i) sum += p[i] = std::exp((logits[i] - max_logit) / sp.temperature);
  for (auto& x : p) x /= sum;
  if ((sp.top_k > 0 && sp.top_k < vocab) || sp.top_p < 1.0) {
    std::vector<int> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    int keep = sp.top_k > 0 ? std::min(sp.top_k, vocab) : vocab;
    if (sp.top_p < 1.0) {
      double mass = 0;
      int n = 0;
      while (n < keep) {
        mass += p[order[n++]];
        if (mass >= sp.top_p) break;
      }
      keep = n;
    }
    std::vector<double> cut(vocab, 0.0);
    double kept = 0;
    for (int i = 0; i < keep; ++i) kept += cut[order[i]] = p[order[i]];
    for (auto& x : cut) x /= kept;
    p.swap(cut);
  }
  return p;
}

int sample_index(const std::vector<double>& probs, Rng& rng) {
  double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  double acc = 0;
  int last_nonzero = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0) continue;
    last_nonzero = static_cast<int>(i);
    acc += probs[i];
    if (u < acc) return static_cast<int>(i);
  }
  return last_nonzero;  // rounding left u above the total
}

SpeculativeOutcome speculative_accept(const std::vector<double>& p, const std::vector<double>& q,
                                      int draft, Rng& rng) {
  const double pd = p[draft], qd = q[draft];
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  if (qd > 0 && u < std::min(1.0, pd / qd)) return {true, draft};
  std::vector<double> residual(p.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += residual[i] = std::max(0.0, p[i] - q[i]);
  if (sum <= 0) return {false, sample_index(p, rng)};  // p == q: cannot happen after a rejection
  for (auto& x : residual) x /= sum;
  return {false, sample_index(residual, rng)};
}

}  // namespace mtpc
