// optimizer_step, the one step the trainer and `mtpc bench train` share, and
// the bench train-step JSON built on it.
#include "model/training/train_step.h"

#include <gtest/gtest.h>

#include "model/training/train_benchmark.h"

namespace mtpc {
namespace {

ModelConfig tiny_model() {
  ModelConfig c = *model_preset("tiny");
  c.dim = 32; c.n_heads = 2; c.n_kv_heads = 1; c.hidden_dim = 64; c.n_layers = 1; c.n_future = 3;
  return c;
}

TEST(OptimizerStep, AccumulatesMicroBatchesLearnsAndLeavesNoGradient) {
  torch::manual_seed(3);
  MtpModel model(tiny_model());
  TrainConfig t;
  t.accum_steps = 2;
  t.bf16 = false;
  AdamW opt(named_parameters_sorted(*model), AdamW::Options{});
  auto window = torch::randint(0, 256, {2, 16 + 3}, torch::kLong);
  std::vector<int> asked;
  auto micro_batch = [&](int a) {
    asked.push_back(a);
    return window;
  };
  MtpLoss first = optimizer_step(*model, opt, t, 1e-2, false, micro_batch);
  EXPECT_EQ(asked, (std::vector<int>{0, 1}));
  ASSERT_EQ(first.per_head.size(), 3u);
  double heads = 0;
  for (double h : first.per_head) heads += h;
  EXPECT_NEAR(first.total, heads, 1e-6 * std::abs(heads));
  EXPECT_EQ(opt.steps_taken(), 1);
  for (const auto& p : model->parameters())
    EXPECT_TRUE(!p.grad().defined() || p.grad().abs().max().item<double>() == 0);
  MtpLoss later = first;
  for (int i = 0; i < 10; ++i) later = optimizer_step(*model, opt, t, 1e-2, false, micro_batch);
  EXPECT_LT(later.total, first.total);  // the same window, learnt
}

TEST(TrainBenchmark, StepJsonDescribesTheConfigurationItRan) {
  Result<nlohmann::json> j = benchmark_train_step_json("tiny", 1, 2, "mlp", "naive", "cpu");
  ASSERT_TRUE(j.ok()) << j.status().message();
  EXPECT_EQ((*j)["n_future"], 2);
  EXPECT_EQ((*j)["loss_order"], "naive");
  RunConfig run = *run_config_from_preset("tiny");
  EXPECT_EQ((*j)["batch_size"], run.train.batch_size);
  EXPECT_EQ((*j)["seq_len"], run.train.seq_len);
  EXPECT_GT((*j)["peak_rss_bytes"].get<int64_t>(), 0);
  EXPECT_FALSE(benchmark_train_step_json("huge", 1, 2, "mlp", "naive", "cpu").ok());
}

}  // namespace
}  // namespace mtpc
