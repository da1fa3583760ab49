// Sampling and speculative acceptance over plain probability vectors.
// Torch-free, so the distribution-preserving rule is tested on its own.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "inference/engine.h"

namespace mtpc {

using Rng = std::mt19937_64;

// softmax(logits / temperature), then top-k and top-p (nucleus) cuts,
// renormalised. Ties at the cut keep the lower id.
std::vector<double> sampling_distribution(const float* logits, int vocab, const SamplingParams& p);

// Index drawn from a distribution that sums to 1 (within rounding).
int sample_index(const std::vector<double>& probs, Rng& rng);

struct SpeculativeOutcome {
  bool accepted;  // the draft stands
  int token;      // the draft, or the replacement drawn from norm(max(0, p - q))
};

// Leviathan et al. / Chen et al. acceptance: keep `draft` (drawn from q) with
// probability min(1, p(draft) / q(draft)); otherwise draw from the residual.
// The token returned is distributed exactly as p.
SpeculativeOutcome speculative_accept(const std::vector<double>& p, const std::vector<double>& q,
                                      int draft, Rng& rng);

}  // namespace mtpc
