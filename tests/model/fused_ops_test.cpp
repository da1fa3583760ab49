#include "model/network/fused_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "model/network/attention_kernel.h"

namespace mtpc {
namespace {

// The inference loops (InferenceMode, CPU fp32) agree with the torch
// expressions used for training, and a row's result is the same bits
// whether it is computed alone or among others.
TEST(FusedOps, RmsNormLoopMatchesTorchAndIsRowLocal) {
  torch::manual_seed(1);
  auto x = torch::randn({2, 7, 48}) * 3;
  auto w = torch::rand({48}) + 0.5;
  auto reference = rms_norm(x, w, 1e-5);  // torch expression (no InferenceMode)
  c10::InferenceMode guard;
  auto fast = rms_norm(x, w, 1e-5);
  EXPECT_TRUE(torch::allclose(fast, reference, 1e-5, 1e-5)) << (fast - reference).abs().max();
  for (int64_t t = 0; t < 7; ++t)
    EXPECT_TRUE(torch::equal(rms_norm(x.narrow(1, t, 1), w, 1e-5), fast.narrow(1, t, 1))) << "row " << t;
  // bf16 takes the torch path and keeps its dtype.
  EXPECT_EQ(rms_norm(x.to(torch::kBFloat16), w.to(torch::kBFloat16), 1e-5).scalar_type(), torch::kBFloat16);
  EXPECT_THROW(rms_norm(x, torch::ones({47}), 1e-5), c10::Error);
}

TEST(FusedOps, RotaryLoopMatchesTorchAndIsRowLocal) {
  torch::manual_seed(2);
  const int64_t B = 2, T = 5, H = 3, D = 16;
  auto x = torch::randn({B, T, H, D});
  auto angles = torch::rand({T, D / 2}) * 6.28;
  auto cos = angles.cos(), sin = angles.sin();
  auto reference = rotary(x, cos, sin);
  // A rotation keeps each pair's length: the reference is checked too.
  auto norms = [&](const torch::Tensor& v) {
    return v.narrow(-1, 0, D / 2).pow(2) + v.narrow(-1, D / 2, D / 2).pow(2);
  };
  EXPECT_TRUE(torch::allclose(norms(reference), norms(x), 1e-4, 1e-4));
  c10::InferenceMode guard;
  auto fast = rotary(x, cos, sin);
  EXPECT_TRUE(torch::allclose(fast, reference, 1e-5, 1e-5)) << (fast - reference).abs().max();
  for (int64_t t = 0; t < T; ++t)
    EXPECT_TRUE(torch::equal(rotary(x.narrow(1, t, 1), cos.narrow(0, t, 1), sin.narrow(0, t, 1)), fast.narrow(1, t, 1)))
        << "row " << t;
  EXPECT_THROW(rotary(x, cos.narrow(0, 0, T - 1), sin.narrow(0, 0, T - 1)), c10::Error);
}

// The reference: causal attention of q [1, T, H, D] against the first
// `total` cache rows with torch's ops, as AttentionImpl::forward writes it.
torch::Tensor attention_reference(const torch::Tensor& q, const torch::Tensor& kc, const torch::Tensor& vc,
                                  int64_t total) {
  const int64_t T = q.size(1), H = q.size(2), D = q.size(3), KV = kc.size(1);
  auto k = kc.narrow(2, 0, total).repeat_interleave(H / KV, 1).to(torch::kFloat64);
  auto v = vc.narrow(2, 0, total).repeat_interleave(H / KV, 1).to(torch::kFloat64);
  auto scores = torch::matmul(q.transpose(1, 2).to(torch::kFloat64), k.transpose(-2, -1)) / std::sqrt(double(D));
  auto mask = torch::ones({T, total}, torch::kBool).triu(total - T + 1);
  scores = scores.masked_fill(mask, -std::numeric_limits<double>::infinity());
  return torch::matmul(torch::softmax(scores, -1), v).transpose(1, 2).reshape({1, T, H * D}).to(torch::kFloat32);
}

TEST(FusedOps, CachedAttentionMatchesTorchAndIsRowLocal) {
  torch::manual_seed(3);
  // Grouped (8 query heads on 4 KV heads, D 32) and plain heads with a D
  // that is not a multiple of 8; short and long contexts.
  for (auto [H, KV, D] : {std::tuple<int64_t, int64_t, int64_t>{8, 4, 32}, {3, 3, 12}, {4, 1, 72}}) {
    for (int64_t total : {1, 7, 9, 130, 403}) {
      const int64_t capacity = 512;
      auto kc = torch::randn({1, KV, capacity, D});
      auto vc = torch::randn({1, KV, capacity, D});
      const int64_t T = std::min<int64_t>(total, 5);
      auto q = torch::randn({1, T, H, D}) * 2;
      EXPECT_FALSE(cached_attention(q, kc, vc, total).defined()) << "outside InferenceMode: torch's ops";
      auto reference = attention_reference(q, kc, vc, total);
      c10::InferenceMode guard;
      auto fast = cached_attention(q, kc, vc, total);
      ASSERT_TRUE(fast.defined()) << "this machine has AVX2 (the linear kernel's tests need it too)";
      EXPECT_TRUE(torch::allclose(fast, reference, 1e-5, 1e-5))
          << "H " << H << " D " << D << " total " << total << ": " << (fast - reference).abs().max();
      // Each row alone (as a decoding step at its position) gives the same bits.
      for (int64_t j = 0; j < T; ++j) {
        auto alone = cached_attention(q.narrow(1, j, 1), kc, vc, total - T + j + 1);
        EXPECT_TRUE(torch::equal(alone, fast.narrow(1, j, 1))) << "row " << j << " of " << T << ", total " << total;
      }
    }
  }
  // Where the CPU has AVX-512 the values go 16 lanes at a time: the same
  // bits as 8 at a time, for head widths with and without a tail.
  if (linear_kernel_isa_available(LinearKernelIsa::kAvx512)) {
    for (int64_t D : {32, 16, 24, 72, 128, 12}) {
      const int64_t H = 4, KV = 2, capacity = 300, total = 277, T = 3;
      auto kc = torch::randn({KV, capacity, D}), vc = torch::randn({KV, capacity, D});
      auto q = torch::randn({T, H, D});
      auto narrow = torch::empty({T, H, D}), wide = torch::empty({T, H, D});
      attention_kernel_with(LinearKernelIsa::kAvx2, q.data_ptr<float>(), kc.data_ptr<float>(), vc.data_ptr<float>(),
                            narrow.data_ptr<float>(), T, H, KV, D, total, capacity * D, 0.3f, 0, H);
      attention_kernel_with(LinearKernelIsa::kAvx512, q.data_ptr<float>(), kc.data_ptr<float>(), vc.data_ptr<float>(),
                            wide.data_ptr<float>(), T, H, KV, D, total, capacity * D, 0.3f, 0, H);
      EXPECT_TRUE(torch::equal(narrow, wide)) << "D " << D;
    }
  }
  c10::InferenceMode guard;
  auto kc = torch::randn({1, 2, 16, 8}), vc = torch::randn({1, 2, 16, 8});
  EXPECT_FALSE(cached_attention(torch::randn({1, 2, 3, 8}), kc, vc, 4).defined()) << "3 heads on 2 KV heads";
  EXPECT_FALSE(cached_attention(torch::randn({1, 2, 2, 8}), kc, vc, 17).defined()) << "beyond the capacity";
  EXPECT_FALSE(cached_attention(torch::randn({1, 5, 2, 8}), kc, vc, 4).defined()) << "more rows than positions";
  EXPECT_FALSE(cached_attention(torch::randn({1, 2, 2, 8}).to(torch::kBFloat16), kc, vc, 4).defined());
}

}  // namespace
}  // namespace mtpc
