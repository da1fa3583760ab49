#include "common/fixture_model.h"

#include <torch/torch.h>

#include <filesystem>
#include <limits>
#include <random>
#include <vector>

#include "model/checkpoint/checkpoint.h"
#include "model/network/network.h"
#include "model/tokenizer/tokenizer.h"
#include "model/training/mtp_loss.h"

namespace mtpc::testing {

namespace {

// A few Adam steps on a repetitive text: enough for the heads to learn it,
// so self-speculative drafts are often accepted.
void train_briefly(MtpModelImpl& m, int steps) {
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

// Every projection zero: each block and head passes its input through, so
// the final state is the token's embedding, the same for all tokens (all
// ones); only `byte`'s unembedding row sees it.
void always_predict(MtpModelImpl& m, char byte) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.named_parameters()) {
    const std::string& name = p.key();
    if (name.rfind("embedding.", 0) == 0) {
      p.value().fill_(1.0);
    } else if (name.rfind("unembedding.", 0) == 0) {
      p.value().zero_();
      p.value()[static_cast<unsigned char>(byte)].fill_(1.0);
    } else if (name.find("norm") == std::string::npos) {
      p.value().zero_();
    }
  }
}

}  // namespace

ModelConfig fixture_config(const FixtureModel& o) {
  ModelConfig c = *model_preset("tiny");
  if (o.size == FixtureModel::Size::kSmall) {
    c.dim = 64; c.n_heads = 4; c.n_kv_heads = 2; c.hidden_dim = 128; c.n_layers = 2;
  } else {
    c.dim = 32; c.n_heads = 2; c.n_kv_heads = 1; c.hidden_dim = 64; c.n_layers = 1;
  }
  c.n_future = o.n_future;
  c.head_kind = o.head_kind;
  if (o.max_seq_len > 0) c.max_seq_len = o.max_seq_len;
  c.fim = o.fim;
  return c;
}

Status write_fixture_model(const std::string& dir, const FixtureModel& o) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Error(dir + ": cannot create the fixture model directory: " + ec.message());
  if (o.seed) torch::manual_seed(*o.seed);
  MtpModel m(fixture_config(o));
  if (o.train_steps > 0) train_briefly(*m, o.train_steps);
  switch (o.weights) {
    case FixtureModel::Weights::kRandom:
      break;
    case FixtureModel::Weights::kAlwaysByte:
      always_predict(*m, o.byte);
      break;
    case FixtureModel::Weights::kNanLogit: {
      torch::NoGradGuard no_grad;
      m->unembedding->weight[7][3] = std::numeric_limits<float>::quiet_NaN();
      break;
    }
  }
  return write_model_files(dir, *m, {}).wrap("fixture model");
}

}  // namespace mtpc::testing
