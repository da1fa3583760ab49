#include "lsp/server_fixture.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>

#include "common/test_util.h"
#include "model/checkpoint/checkpoint.h"
#include "model/network/config.h"
#include "model/network/network.h"

namespace mtpc::lsp_testing {

namespace {

// A tiny model (dim 32, 1 layer, 3 heads) written once into a directory
// that lives until the test binary exits; `shape` sets its weights.
std::string write_tiny_model(std::unique_ptr<mtpc::testing::TempDir>& dir, const std::function<void(MtpModel&)>& shape) {
  dir = std::make_unique<mtpc::testing::TempDir>();
  std::string path = *dir / "model";
  std::filesystem::create_directories(path);
  ModelConfig c = *model_preset("tiny");
  c.dim = 32; c.n_heads = 2; c.n_kv_heads = 1; c.hidden_dim = 64; c.n_layers = 1; c.n_future = 3;
  c.max_seq_len = 256;
  MtpModel m(c);
  shape(m);
  Status s = write_model_files(path, *m, {});
  EXPECT_TRUE(s.ok()) << s.message();
  return path;
}

}  // namespace

const std::string& random_model_dir() {
  static std::unique_ptr<mtpc::testing::TempDir> dir;
  static std::string path;
  if (!dir)
    path = write_tiny_model(dir, [](MtpModel& m) {
      torch::manual_seed(11);
      m = MtpModel(m->config());
    });
  return path;
}

const std::string& repeating_model_dir(char byte) {
  static std::unique_ptr<mtpc::testing::TempDir> dir;
  static std::string path;
  if (!dir)
    path = write_tiny_model(dir, [byte](MtpModel& m) {
      // Every projection zero: each block and head passes its input through,
      // so the final state is the token's embedding, the same for all tokens
      // (all ones); only `byte`'s unembedding row sees it.
      torch::NoGradGuard no_grad;
      for (auto& p : m->named_parameters()) {
        const std::string& name = p.key();
        if (name.rfind("embedding.", 0) == 0) p.value().fill_(1.0);
        else if (name.rfind("unembedding.", 0) == 0) {
          p.value().zero_();
          p.value()[static_cast<unsigned char>(byte)].fill_(1.0);
        } else if (name.find("norm") == std::string::npos) p.value().zero_();
      }
    });
  return path;
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace mtpc::lsp_testing
