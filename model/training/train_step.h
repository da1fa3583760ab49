// One optimizer step of `mtpc train` (LibTorch). The trainer and
// `mtpc bench train` both call it, so the benchmark times exactly the step
// the trainer takes.
#pragma once

#include <torch/torch.h>

#include <functional>

#include "model/network/network.h"
#include "model/training/adamw.h"
#include "model/training/mtp_loss.h"
#include "model/training/train_config.h"

namespace mtpc {

// In the plain order: per micro-batch a (0 .. t.accum_steps - 1) forward,
// loss and backward on `micro_batch(a)` (token windows [B, seq_len +
// n_future] on the model's device) under bf16 autocast if t.bf16, in
// t.loss_order; then `after_backward` if given (data-parallel training
// all-reduces the gradients there), clip to t.grad_clip, AdamW step at `lr`,
// zero grad. Returns the loss averaged over the micro-batches.
MtpLoss optimizer_step(MtpModelImpl& model, AdamW& optimizer, const TrainConfig& t, double lr, bool cuda,
                       const std::function<torch::Tensor(int micro_batch)>& micro_batch,
                       const std::function<void()>& after_backward = {});

}  // namespace mtpc
