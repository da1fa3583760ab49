#include "model/network/head_stack.h"

#include "model/network/fused_ops.h"

namespace mtpc {

MlpHeadStack MlpHeadStack::build(MtpModelImpl& model) {
  const ModelConfig& c = model.config();
  TORCH_CHECK(c.head_kind == HeadKind::kMlp, "MlpHeadStack needs MLP heads, this model has ",
              head_kind_name(c.head_kind), " heads");
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> w1, w2, w3;
  for (int i = 0; i < c.n_future; ++i) {
    auto* head = model.heads[i]->as<MlpHeadImpl>();
    // w (g * x) = (w * g) x: the norm's per-channel weight g scales columns.
    auto g = head->norm->weight.detach().to(torch::kFloat32).unsqueeze(0);
    const auto dtype = head->feed_forward->w1->weight.scalar_type();
    w1.push_back((head->feed_forward->w1->weight.detach().to(torch::kFloat32) * g).to(dtype));
    w3.push_back((head->feed_forward->w3->weight.detach().to(torch::kFloat32) * g).to(dtype));
    w2.push_back(head->feed_forward->w2->weight.detach());
  }
  MlpHeadStack s;
  s.w1_ = torch::cat(w1, 0).contiguous();
  s.w3_ = torch::cat(w3, 0).contiguous();
  s.w2_ = torch::stack(w2).contiguous();
  s.ones_ = torch::ones({c.dim}, s.w2_.options());
  s.heads_ = c.n_future;
  s.hidden_ = c.hidden_dim;
  s.eps_ = c.norm_eps;
  return s;
}

torch::Tensor MlpHeadStack::states(const torch::Tensor& x, int first, int count) const {
  TORCH_CHECK(x.dim() == 2, "MlpHeadStack::states wants rows [R, dim], got ", x.sizes());
  TORCH_CHECK(first >= 0 && count >= 1 && first + count <= heads_, "heads [", first, ", ",
              first + count, ") out of range for ", heads_, " heads");
  // RMSNorm as RMSNormImpl; its weight is folded into w1 and w3.
  auto normed = rms_norm(x, ones_, eps_);
  auto gate = linear_apply(normed, w1_.narrow(0, first * hidden_, count * hidden_));
  auto up = linear_apply(normed, w3_.narrow(0, first * hidden_, count * hidden_));
  auto act = (torch::silu(gate) * up).view({x.size(0), count, hidden_});  // [R, count, hidden]
  std::vector<torch::Tensor> out;
  for (int j = 0; j < count; ++j) out.push_back(linear_apply(act.select(1, j), w2_[first + j]));
  return x.unsqueeze(0) + torch::stack(out);
}

}  // namespace mtpc
