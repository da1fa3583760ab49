#include "model/training/mtp_loss.h"

namespace mtpc {
namespace {

torch::Tensor head_cross_entropy(const torch::Tensor& logits, const torch::Tensor& window, int head,
                                 int64_t T) {
  auto target = window.narrow(1, head + 1, T);
  return torch::nn::functional::cross_entropy(
      logits.to(torch::kFloat32).reshape({-1, logits.size(-1)}), target.reshape({-1}));
}

int64_t input_length(const MtpModelImpl& model, const torch::Tensor& window) {
  const int64_t T = window.size(1) - model.config().n_future;
  TORCH_CHECK(window.dim() == 2 && T >= 1, "loss window must be [B, T + n_future] with T >= 1");
  return T;
}

}  // namespace

MtpLoss mtp_loss_backward(MtpModelImpl& model, const torch::Tensor& window, double grad_scale) {
  const int64_t T = input_length(model, window);
  const int n = model.config().n_future;
  MtpLoss out;
  auto hidden = model.trunk(window.narrow(1, 0, T));
  auto detached = hidden.detach().requires_grad_(true);
  for (int i = 0; i < n; ++i) {
    auto loss = head_cross_entropy(model.head_logits(i, detached), window, i, T);
    (loss * grad_scale).backward();
    const double v = loss.item<double>();
    out.per_head.push_back(v);
    out.total += v;
  }
  hidden.backward(detached.grad());
  return out;
}

MtpLoss mtp_loss_backward_naive(MtpModelImpl& model, const torch::Tensor& window,
                                double grad_scale) {
  const int64_t T = input_length(model, window);
  MtpLoss out;
  auto logits = model.forward_all(window.narrow(1, 0, T));
  torch::Tensor sum;
  for (int i = 0; i < static_cast<int>(logits.size()); ++i) {
    auto loss = head_cross_entropy(logits[i], window, i, T);
    out.per_head.push_back(loss.item<double>());
    out.total += out.per_head.back();
    sum = sum.defined() ? sum + loss : loss;
  }
  (sum * grad_scale).backward();
  return out;
}

MtpLoss mtp_loss_eval(MtpModelImpl& model, const torch::Tensor& window) {
  torch::NoGradGuard no_grad;
  const int64_t T = input_length(model, window);
  MtpLoss out;
  auto hidden = model.trunk(window.narrow(1, 0, T));
  for (int i = 0; i < model.config().n_future; ++i) {
    out.per_head.push_back(head_cross_entropy(model.head_logits(i, hidden), window, i, T).item<double>());
    out.total += out.per_head.back();
  }
  return out;
}

}  // namespace mtpc
