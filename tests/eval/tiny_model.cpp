#include "tiny_model.h"

#include <torch/torch.h>

#include "model/checkpoint/checkpoint.h"
#include "model/network/config.h"
#include "model/network/network.h"

namespace mtpc::testing {

bool write_tiny_model(const std::string& dir, const TinyModelOptions& options) {
  Result<ModelConfig> preset = model_preset("tiny");
  if (!preset.ok()) return false;
  ModelConfig c = *preset;
  c.dim = 64;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.hidden_dim = 128;
  c.n_layers = 2;
  c.n_future = options.n_future;
  c.max_seq_len = options.max_seq_len;
  torch::manual_seed(options.seed);
  MtpModel m(c);
  return write_model_files(dir, *m, {}).ok();
}

}  // namespace mtpc::testing
