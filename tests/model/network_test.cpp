#include "model/network/network.h"

#include <gtest/gtest.h>

#include "model/training/mtp_loss.h"

namespace mtpc {
namespace {

ModelConfig test_config(HeadKind kind, int n_future = 4) {
  ModelConfig c = *model_preset("tiny");
  c.dim = 64; c.n_heads = 4; c.n_kv_heads = 2; c.hidden_dim = 128;
  c.n_future = n_future; c.head_kind = kind; c.max_seq_len = 64;
  return c;
}

torch::Tensor random_window(int64_t B, int64_t len, int vocab, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(0, vocab, {B, len}, torch::kLong);
}

class HeadKinds : public ::testing::TestWithParam<HeadKind> {};

TEST_P(HeadKinds, SequentialLossGradientsEqualNaive) {
  ModelConfig c = test_config(GetParam());
  torch::manual_seed(1);
  MtpModel a(c);
  torch::manual_seed(1);
  MtpModel b(c);
  auto window = random_window(2, 24 + c.n_future, c.vocab_size, 2);
  MtpLoss la = mtp_loss_backward(*a, window);
  MtpLoss lb = mtp_loss_backward_naive(*b, window);
  EXPECT_NEAR(la.total, lb.total, 1e-5);
  auto pa = named_parameters_sorted(*a), pb = named_parameters_sorted(*b);
  ASSERT_EQ(pa.size(), pb.size());
  double max_diff = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_EQ(pa[i].first, pb[i].first);
    ASSERT_TRUE(pa[i].second.grad().defined()) << pa[i].first << " got no gradient";
    max_diff = std::max(max_diff,
                        (pa[i].second.grad() - pb[i].second.grad()).abs().max().item<double>());
  }
  std::printf("sequential vs naive: max abs gradient difference %.3g over %zu tensors\n", max_diff,
              pa.size());
  EXPECT_LT(max_diff, 1e-5);
}

TEST_P(HeadKinds, TinyModelOverfitsOneBatchOnEveryHead) {
  ModelConfig c = test_config(GetParam());
  torch::manual_seed(3);
  MtpModel m(c);
  auto window = random_window(2, 32 + c.n_future, 64, 4);  // 64 symbols: memorisable
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(3e-3));
  MtpLoss loss;
  for (int step = 0; step < 300; ++step) {
    opt.zero_grad();
    loss = mtp_loss_backward(*m, window);
    opt.step();
  }
  for (int i = 0; i < c.n_future; ++i)
    EXPECT_LT(loss.per_head[i], 0.05) << "head " << i << " did not memorise the batch";
}

TEST_P(HeadKinds, IncrementalDecodingWithKvCacheMatchesFullForward) {
  ModelConfig c = test_config(GetParam());
  torch::manual_seed(5);
  MtpModel m(c);
  torch::NoGradGuard no_grad;
  auto tokens = random_window(1, 20, c.vocab_size, 6);
  auto full = m->forward_all(tokens);
  KvCache cache = KvCache::create(c, 1, c.max_seq_len);
  // Prefill 7, then chunks of 1, 5 and 7 tokens.
  std::vector<std::pair<int64_t, int64_t>> chunks = {{0, 7}, {7, 1}, {8, 5}, {13, 7}};
  for (auto [start, len] : chunks) {
    auto out = m->forward_decode(tokens.narrow(1, start, len), start, cache, c.n_future);
    for (int h = 0; h < c.n_future; ++h) {
      double d = (out[h] - full[h].narrow(1, start, len)).abs().max().item<double>();
      EXPECT_LT(d, 1e-4) << "head " << h << " chunk at " << start;
    }
  }
  EXPECT_EQ(cache.length(), 20);
  // Roll back 6 positions and redo them with different tokens, then the
  // original ones: results must match the full forward again.
  cache.truncate(14);
  auto other = random_window(1, 6, c.vocab_size, 9);
  m->forward_decode(other, 14, cache, c.n_future);
  cache.truncate(14);
  auto redo = m->forward_decode(tokens.narrow(1, 14, 6), 14, cache, c.n_future);
  for (int h = 0; h < c.n_future; ++h)
    EXPECT_LT((redo[h] - full[h].narrow(1, 14, 6)).abs().max().item<double>(), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Model, HeadKinds,
                         ::testing::Values(HeadKind::kTransformer, HeadKind::kMlp),
                         [](const auto& info) { return std::string(head_kind_name(info.param)); });

TEST(MtpModel, OneFutureTransformerHeadIsAPlainNextTokenModel) {
  ModelConfig c = test_config(HeadKind::kTransformer, 1);
  MtpModel m(c);
  ASSERT_EQ(m->heads->size(), 1u);
  // Trunk blocks + one head block: a next-token Llama of n_layers + 1 blocks.
  EXPECT_NE(m->heads[0]->as<BlockImpl>(), nullptr);
  int64_t n = 0;
  for (auto& p : m->parameters()) n += p.numel();
  EXPECT_EQ(n, c.parameter_count());
}

}  // namespace
}  // namespace mtpc
