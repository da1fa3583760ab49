// Multi-token prediction loss (LibTorch).
//
// The loss is the sum over heads of each head's mean cross-entropy. Given a
// window [B, T + n_future] of tokens, the input is its first T columns and
// head i (0-based) at position t predicts window[t + i + 1].
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/network/network.h"

namespace mtpc {

struct MtpLoss {
  double total = 0;                // sum over heads, nats
  std::vector<double> per_head;    // mean cross-entropy of each head, nats
};

// The paper's memory-efficient order: trunk forward once, its output
// detached; each head forward and backward in turn, accumulating the gradient
// at the trunk output; then one backward through the trunk. Gradients are
// accumulated (not zeroed) and scaled by `grad_scale` (1/accumulation steps).
// Only one head's activations and logits are alive at a time.
MtpLoss mtp_loss_backward(MtpModelImpl& model, const torch::Tensor& window, double grad_scale = 1.0);

// The naive order: every head's logits at once, one backward. Same gradients;
// kept as the reference for tests and the memory benchmark.
MtpLoss mtp_loss_backward_naive(MtpModelImpl& model, const torch::Tensor& window,
                                double grad_scale = 1.0);

// Loss without gradients (validation).
MtpLoss mtp_loss_eval(MtpModelImpl& model, const torch::Tensor& window);

}  // namespace mtpc
