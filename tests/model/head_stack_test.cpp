#include "model/network/head_stack.h"

#include <gtest/gtest.h>

#include "model/network/linear_kernel.h"

namespace mtpc {
namespace {

ModelConfig mlp_config() {
  ModelConfig c = *model_preset("tiny");
  c.dim = 64; c.n_heads = 4; c.n_kv_heads = 2; c.hidden_dim = 96;
  c.n_future = 6; c.head_kind = HeadKind::kMlp; c.max_seq_len = 32;
  return c;
}

// Each head's states from the stack equal the head module's own forward on
// the same rows, for every range of heads, in fp32 and bf16.
TEST(MlpHeadStack, StatesEqualEachHeadModule) {
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    torch::manual_seed(7);
    MtpModel model(mlp_config());
    // Norm weights start at 1: give them distinct values so a head mixing
    // up another's norm would show.
    {
      torch::NoGradGuard no_grad;
      for (auto& p : model->named_parameters())
        if (p.key().find("norm") != std::string::npos) p.value().uniform_(0.5, 1.5);
    }
    model->to(dtype);
    const int n = model->config().n_future;
    MlpHeadStack stack = MlpHeadStack::build(*model);
    ASSERT_EQ(stack.heads(), n);
    torch::NoGradGuard no_grad;
    auto x = torch::randn({5, model->config().dim}).to(dtype);
    const double tol = dtype == torch::kFloat32 ? 1e-5 : 3e-2;
    for (int first = 0; first < n; ++first)
      for (int count = 1; first + count <= n; ++count) {
        auto got = stack.states(x, first, count);
        ASSERT_EQ(got.sizes(), (std::vector<int64_t>{count, 5, model->config().dim}));
        EXPECT_EQ(got.scalar_type(), dtype);
        for (int j = 0; j < count; ++j) {
          auto want = model->heads[first + j]->as<MlpHeadImpl>()->forward(x);
          const double diff = (got[j].to(torch::kFloat32) - want.to(torch::kFloat32)).abs().max().item<double>();
          EXPECT_LE(diff, tol) << "head " << first + j << " (range " << first << "+" << count << ")";
        }
      }
  }
}

// int8 weights (for drafting): close to each head's own states, relative
// to their size; kept only where the kernel runs, in fp32 on the CPU.
TEST(MlpHeadStack, Int8WeightsStayCloseToEachHeadModule) {
  torch::manual_seed(8);
  MtpModel model(mlp_config());
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->named_parameters())
      if (p.key().find("norm") != std::string::npos) p.value().uniform_(0.5, 1.5);
  }
  MlpHeadStack stack = MlpHeadStack::build(*model, DraftWeights::kInt8);
  if (!linear_kernel_available()) {
    EXPECT_EQ(stack.weights(), DraftWeights::kExact);
    GTEST_SKIP() << "no AVX2/FMA on this CPU: the stack keeps fp32 weights";
  }
  ASSERT_EQ(stack.weights(), DraftWeights::kInt8);
  EXPECT_EQ(MlpHeadStack::build(*model).weights(), DraftWeights::kExact);
  const int n = model->config().n_future;
  torch::NoGradGuard no_grad;
  auto x = torch::randn({3, model->config().dim});
  for (int first = 0; first < n; ++first)
    for (int count = 1; first + count <= n; ++count) {
      auto got = stack.states(x, first, count);
      ASSERT_EQ(got.sizes(), (std::vector<int64_t>{count, 3, model->config().dim}));
      for (int j = 0; j < count; ++j) {
        auto head = model->heads[first + j]->as<MlpHeadImpl>();
        auto want = head->forward(x);
        // The head's own contribution (want - x) within 2% of its size; an
        // int8 weight is within half a step (max |w| / 254) of the fp32 one.
        const double err = (got[j] - want).norm().item<double>();
        const double size = (want - x).norm().item<double>();
        EXPECT_LE(err, 0.02 * size) << "head " << first + j << " (range " << first << "+" << count << ")";
        EXPECT_GT(err, 0.0) << "the int8 path ran";
      }
    }
  // Int8 stacks take the model's fp32 CPU rows only.
  EXPECT_THROW(stack.states(x.to(torch::kBFloat16), 0, 1), c10::Error);
  // bf16 models keep their own weights.
  model->to(torch::kBFloat16);
  EXPECT_EQ(MlpHeadStack::build(*model, DraftWeights::kInt8).weights(), DraftWeights::kExact);
}

TEST(MlpHeadStack, RefusesBadInput) {
  torch::manual_seed(1);
  MtpModel model(mlp_config());
  MlpHeadStack stack = MlpHeadStack::build(*model);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, model->config().dim});
  EXPECT_THROW(stack.states(x, 0, 7), c10::Error);            // past the last head
  EXPECT_THROW(stack.states(x, 2, 0), c10::Error);            // empty range
  EXPECT_THROW(stack.states(x.unsqueeze(0), 0, 1), c10::Error);  // not [R, dim]
  ModelConfig c = mlp_config();
  c.head_kind = HeadKind::kTransformer;
  MtpModel transformer(c);
  EXPECT_THROW(MlpHeadStack::build(*transformer), c10::Error);
}

}  // namespace
}  // namespace mtpc
