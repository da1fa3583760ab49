#include "model/network/fused_ops.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace mtpc
