#include "model/training/train_step.h"

#include "model/training/autocast.h"

namespace mtpc {

MtpLoss optimizer_step(MtpModelImpl& model, AdamW& optimizer, const TrainConfig& t, double lr, bool cuda,
                       const std::function<torch::Tensor(int micro_batch)>& micro_batch,
                       const std::function<void()>& after_backward) {
  MtpLoss sum;
  sum.per_head.assign(model.config().n_future, 0.0);
  for (int a = 0; a < t.accum_steps; ++a) {
    torch::Tensor window = micro_batch(a);
    MtpLoss l;
    {
      AutocastScope autocast(t.bf16, cuda);
      l = t.loss_order == "naive" ? mtp_loss_backward_naive(model, window, 1.0 / t.accum_steps)
                                  : mtp_loss_backward(model, window, 1.0 / t.accum_steps);
    }
    for (size_t h = 0; h < l.per_head.size(); ++h) sum.per_head[h] += l.per_head[h] / t.accum_steps;
    sum.total += l.total / t.accum_steps;
  }
  if (after_backward) after_backward();
  if (t.grad_clip > 0) torch::nn::utils::clip_grad_norm_(model.parameters(), t.grad_clip);
  optimizer.step(lr);
  optimizer.zero_grad();
  return sum;
}

}  // namespace mtpc
