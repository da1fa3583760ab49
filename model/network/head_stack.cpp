#include "model/network/head_stack.h"

#include "model/network/fused_ops.h"
#include "model/network/linear_kernel.h"

namespace mtpc {
namespace {

// w [rows, cols] fp32 -> int8 [rows, cols] and scale [rows], max |w| / 127
// per row (an all-zero row gets scale 0).
std::pair<torch::Tensor, torch::Tensor> quantize_rows(const torch::Tensor& w) {
  auto wf = w.to(torch::kFloat32).contiguous();
  auto scale = wf.abs().amax(-1) / 127.0;
  auto safe = torch::where(scale > 0, scale, torch::ones_like(scale));
  auto q = torch::round(wf / safe.unsqueeze(-1)).clamp(-127, 127).to(torch::kInt8).contiguous();
  return {q, scale.contiguous()};
}

// x [R, K] fp32 against int8 q [N, K] with scale [N] -> [R, N].
torch::Tensor linear_q8(const torch::Tensor& x, const torch::Tensor& q, const torch::Tensor& scale) {
  auto xc = x.contiguous();
  const int64_t R = xc.size(0), K = xc.size(1), N = q.size(0);
  TORCH_CHECK(q.size(1) == K && q.is_contiguous() && scale.is_contiguous(), "linear_q8: shapes ", xc.sizes(), " ",
              q.sizes());
  auto y = torch::empty({R, N}, xc.options());
  linear_kernel_q8(xc.data_ptr<float>(), q.data_ptr<int8_t>(), scale.data_ptr<float>(), y.data_ptr<float>(), R, N, K);
  return y;
}

}  // namespace

MlpHeadStack MlpHeadStack::build(MtpModelImpl& model, DraftWeights weights) {
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
  if (weights == DraftWeights::kInt8 && s.w1_.scalar_type() == torch::kFloat32 && s.w1_.device().is_cpu() &&
      linear_kernel_available()) {
    std::tie(s.q1_, s.s1_) = quantize_rows(s.w1_);
    std::tie(s.q3_, s.s3_) = quantize_rows(s.w3_);
    std::tie(s.q2_, s.s2_) = quantize_rows(s.w2_);  // [n, dim, hidden] rows: [n, dim] scales
    s.quantized_ = true;
    s.w1_ = s.w3_ = s.w2_ = torch::Tensor();  // the fp32 copies are not read again
  }
  return s;
}

torch::Tensor MlpHeadStack::states(const torch::Tensor& x, int first, int count) const {
  TORCH_CHECK(x.dim() == 2, "MlpHeadStack::states wants rows [R, dim], got ", x.sizes());
  TORCH_CHECK(first >= 0 && count >= 1 && first + count <= heads_, "heads [", first, ", ",
              first + count, ") out of range for ", heads_, " heads");
  // RMSNorm as RMSNormImpl; its weight is folded into w1 and w3.
  auto normed = rms_norm(x, ones_, eps_);
  if (quantized_) {
    TORCH_CHECK(x.scalar_type() == torch::kFloat32 && x.device().is_cpu(),
                "MlpHeadStack: int8 draft weights take fp32 CPU rows, got ", x.scalar_type(), " on ", x.device());
    const int64_t rows = count * hidden_;
    auto gate = linear_q8(normed, q1_.narrow(0, first * hidden_, rows), s1_.narrow(0, first * hidden_, rows));
    auto up = linear_q8(normed, q3_.narrow(0, first * hidden_, rows), s3_.narrow(0, first * hidden_, rows));
    auto act = (torch::silu(gate) * up).view({x.size(0), count, hidden_});
    std::vector<torch::Tensor> out;
    for (int j = 0; j < count; ++j) out.push_back(linear_q8(act.select(1, j), q2_[first + j], s2_[first + j]));
    return x.unsqueeze(0) + torch::stack(out);
  }
  auto gate = linear_apply(normed, w1_.narrow(0, first * hidden_, count * hidden_));
  auto up = linear_apply(normed, w3_.narrow(0, first * hidden_, count * hidden_));
  auto act = (torch::silu(gate) * up).view({x.size(0), count, hidden_});  // [R, count, hidden]
  std::vector<torch::Tensor> out;
  for (int j = 0; j < count; ++j) out.push_back(linear_apply(act.select(1, j), w2_[first + j]));
  return x.unsqueeze(0) + torch::stack(out);
}

}  // namespace mtpc
