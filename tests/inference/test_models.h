// Inference-test models: small configurations, briefly trained on a
// repetitive text so that drafts are often right.
#pragma once

#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "inference/engine.h"
#include "model/checkpoint/checkpoint.h"
#include "model/network/config.h"
#include "model/network/network.h"
#include "model/test_util.h"
#include "model/tokenizer/tokenizer.h"
#include "model/training/mtp_loss.h"

namespace mtpc::testing {

inline ModelConfig small_config(HeadKind kind, int n_future = 4) {
  ModelConfig c = *model_preset("tiny");
  c.dim = 64; c.n_heads = 4; c.n_kv_heads = 2; c.hidden_dim = 128; c.n_layers = 2;
  c.n_future = n_future; c.head_kind = kind; c.max_seq_len = 128;
  return c;
}

// A model that has learnt a repetitive text, so drafts are often right.
inline void train_briefly(MtpModelImpl& m, int steps) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "def f(x):\n    return x + " + std::to_string(i % 5) + "\n";
  ByteTokenizer tok;
  auto ids = tok.encode(text);
  torch::optim::Adam opt(m.parameters(), torch::optim::AdamOptions(3e-3));
  const int64_t L = 48 + m.config().n_future;
  std::mt19937 rng(1);
  for (int step = 0; step < steps; ++step) {
    auto window = torch::empty({8, L}, torch::kLong);
    for (int b = 0; b < 8; ++b) {
      size_t off = rng() % (ids.size() - L);
      for (int64_t j = 0; j < L; ++j) window[b][j] = ids[off + j];
    }
    opt.zero_grad();
    mtp_loss_backward(m, window);
    opt.step();
  }
}

// MTPC_TEST_DEVICE (cpu | cuda, default cpu) and MTPC_TEST_DTYPE (fp32 |
// bf16, default fp32) move the engines of the equivalence tests onto another
// device: scripts/gpu-check runs them on CUDA that way.
inline EngineOptions test_engine_options() {
  EngineOptions o;
  if (const char* d = std::getenv("MTPC_TEST_DEVICE")) o.device = d;
  if (const char* t = std::getenv("MTPC_TEST_DTYPE")) o.dtype = t;
  return o;
}

inline std::shared_ptr<Engine> make_engine(const TempDir& dir, HeadKind kind, int train_steps = 0,
                                           int n_future = 4) {
  torch::manual_seed(17);
  MtpModel m(small_config(kind, n_future));
  if (train_steps > 0) train_briefly(*m, train_steps);
  EXPECT_TRUE(write_model_files(dir.path(), *m, {}).ok());
  auto e = Engine::load(dir.path(), test_engine_options());
  // GoogleTest reports the exception as the test's failure.
  if (!e.ok()) throw std::runtime_error("cannot load the test model: " + e.status().message());
  return *e;
}

inline std::vector<int32_t> random_prompt(std::mt19937& rng, int max_len = 40) {
  std::vector<int32_t> p(1 + rng() % max_len);
  for (auto& t : p) t = static_cast<int32_t>(32 + rng() % 90);
  return p;
}

}  // namespace mtpc::testing
