#include "model/network/fused_ops.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "model/network/attention_kernel.h"

namespace mtpc {
namespace {

bool fast_path(const torch::Tensor& x) {
  return c10::InferenceMode::is_enabled() && x.device().is_cpu() && x.scalar_type() == torch::kFloat32;
}

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  if (fast_path(x) && weight.scalar_type() == torch::kFloat32 && weight.device().is_cpu()) {
    const int64_t dim = x.size(-1);
    TORCH_CHECK(weight.numel() == dim, "rms_norm: width ", dim, " but weight has ", weight.numel());
    auto xc = x.contiguous();
    auto wc = weight.contiguous();
    auto y = torch::empty_like(xc);
    const float* xp = xc.data_ptr<float>();
    const float* wp = wc.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    const int64_t rows = dim == 0 ? 0 : xc.numel() / dim;
    for (int64_t r = 0; r < rows; ++r) {
      const float* in = xp + r * dim;
      float* out = yp + r * dim;
      double sum = 0;
      for (int64_t i = 0; i < dim; ++i) sum += static_cast<double>(in[i]) * in[i];
      const float scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(dim) + eps));
      for (int64_t i = 0; i < dim; ++i) out[i] = in[i] * scale * wp[i];
    }
    return y;
  }
  auto xf = x.to(torch::kFloat32);
  auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (y * weight).to(x.scalar_type());
}

torch::Tensor rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  if (fast_path(x) && x.dim() == 4 && cos.scalar_type() == torch::kFloat32 && sin.scalar_type() == torch::kFloat32 &&
      cos.device().is_cpu() && sin.device().is_cpu()) {
    const int64_t B = x.size(0), T = x.size(1), H = x.size(2), D = x.size(3);
    TORCH_CHECK(cos.size(0) == T && cos.size(1) == half && sin.sizes() == cos.sizes(), "rotary: angles ",
                cos.sizes(), " for x ", x.sizes());
    auto xc = x.contiguous();
    auto cc = cos.contiguous();
    auto sc = sin.contiguous();
    auto y = torch::empty_like(xc);
    const float* xp = xc.data_ptr<float>();
    const float* cp = cc.data_ptr<float>();
    const float* sp = sc.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        const float* c = cp + t * half;
        const float* s = sp + t * half;
        for (int64_t h = 0; h < H; ++h) {
          const int64_t off = ((b * T + t) * H + h) * D;
          const float* in = xp + off;
          float* out = yp + off;
          for (int64_t i = 0; i < half; ++i) {
            const float x1 = in[i], x2 = in[i + half];
            out[i] = x1 * c[i] - x2 * s[i];
            out[i + half] = x1 * s[i] + x2 * c[i];
          }
        }
      }
    return y;
  }
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  auto c = cos.unsqueeze(0).unsqueeze(2).to(x.scalar_type());
  auto s = sin.unsqueeze(0).unsqueeze(2).to(x.scalar_type());
  return torch::cat({x1 * c - x2 * s, x1 * s + x2 * c}, -1);
}

torch::Tensor cached_attention(const torch::Tensor& q, const torch::Tensor& kc, const torch::Tensor& vc,
                               int64_t total) {
  // MTPC_ATTENTION_KERNEL=0 keeps torch's ops: a switch for side-by-side
  // benchmarks of the kernel.
  static const bool off = [] {
    const char* v = std::getenv("MTPC_ATTENTION_KERNEL");
    return v != nullptr && std::string(v) == "0";
  }();
  if (off || !fast_path(q) || !attention_kernel_available() || q.dim() != 4 || q.size(0) != 1 || kc.dim() != 4 ||
      kc.size(0) != 1 || kc.scalar_type() != torch::kFloat32 || vc.scalar_type() != torch::kFloat32 ||
      !kc.device().is_cpu() || !vc.device().is_cpu() || !kc.is_contiguous() || !vc.is_contiguous() ||
      kc.sizes() != vc.sizes())
    return {};
  const int64_t T = q.size(1), H = q.size(2), D = q.size(3), KV = kc.size(1), capacity = kc.size(2);
  if (kc.size(3) != D || KV < 1 || H % KV != 0 || total < T || total > capacity) return {};
  auto qc = q.contiguous();
  auto out = torch::empty({1, T, H * D}, qc.options());
  const float* qp = qc.data_ptr<float>();
  const float* kp = kc.data_ptr<float>();
  const float* vp = vc.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  // Heads split across threads only when there is enough work (a prompt);
  // a decoding pass stays on the calling thread.
  const int64_t grain = T * total >= 8192 ? 1 : H;
  at::parallel_for(0, H, grain, [&](int64_t begin, int64_t end) {
    attention_kernel(qp, kp, vp, op, T, H, KV, D, total, capacity * D, scale, begin, end);
  });
  return out;
}

}  // namespace mtpc
