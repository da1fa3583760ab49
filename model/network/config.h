// Model hyper-parameters and named presets. Torch-free.
//
// A ModelConfig fully describes the network's shapes: a Llama-style trunk of
// `n_layers` blocks, then `n_future` independent output heads (head i predicts
// token t+i), a shared final RMSNorm and a shared unembedding. With
// n_future = 1 and transformer heads it is exactly a next-token Llama model of
// n_layers + 1 blocks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/status.h"

namespace mtpc {

enum class HeadKind {
  kTransformer,  // one transformer block per head, with its own KV cache (the paper's)
  kMlp,          // residual SwiGLU MLP on the trunk output (Medusa-style, no cache)
};
const char* head_kind_name(HeadKind kind);

// How rotary frequencies are stretched for contexts longer than training's
// (Hugging Face's `rope_scaling`). kNone: theta^(-2i/d). kLinear: every
// frequency divided by `factor`. kLlama3: Llama 3.1's piecewise rule (long
// wavelengths divided by `factor`, short ones kept, a smooth blend between,
// with wavelength bounds original_max_position_embeddings / low_freq_factor
// and / high_freq_factor).
enum class RopeScalingKind { kNone, kLinear, kLlama3 };
struct RopeScaling {
  RopeScalingKind kind = RopeScalingKind::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int original_max_position_embeddings = 8192;
};
const char* rope_scaling_name(RopeScalingKind kind);

enum class FimLayout { kPsm, kSpm };
const char* fim_layout_name(FimLayout layout);

struct ModelConfig {
  int vocab_size = 262;       // byte tokenizer: 256 bytes + 6 specials
  int dim = 256;              // residual width
  int n_layers = 4;           // trunk blocks
  int n_heads = 8;            // attention query heads
  int n_kv_heads = 4;         // attention key/value heads (grouped-query attention)
  int hidden_dim = 704;       // SwiGLU inner width
  int n_future = 4;           // output heads
  HeadKind head_kind = HeadKind::kTransformer;
  int max_seq_len = 512;      // rotary table length and the longest KV cache
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  // "byte": the built-in byte tokenizer; "files": the tokenizer files in the
  // model directory (tokenizer.json / tokenizer.model, see checkpoint.h).
  std::string tokenizer = "byte";
  // How the byte model was trained to fill in the middle (the byte
  // tokenizer's FIM template follows it; other tokenizers bring their own):
  //   kPsm: prefix-suffix-middle, the middle running to the window's end
  //         (checkpoints that do not say: the layout before "fim" existed);
  //   kSpm: suffix-prefix-middle (PRE SUF suffix MID prefix middle), the
  //         middle ended by EOS, so generations stop where the hole does,
  //         and a prefix growing at the cursor keeps the cached prompt.
  // JSON "fim": "psm" | "spm", written only for spm. Presets use spm.
  FimLayout fim = FimLayout::kPsm;
  // Fields of pretrained Llama/Qwen2 models; the defaults are mtpc's own
  // models, and config JSON written by mtpc lists them only when not default.
  int explicit_head_dim = 0;          // JSON "head_dim"; 0: dim / n_heads
  bool attention_bias = false;        // q/k/v projections have biases (Qwen2); wo never does
  bool tie_embeddings = false;        // unembedding is the embedding matrix (no separate tensor)
  RopeScaling rope_scaling;

  int head_dim() const { return explicit_head_dim > 0 ? explicit_head_dim : dim / n_heads; }
  // Attention layers that keep a KV cache: trunk blocks, then transformer heads.
  int attention_layers() const {
    return n_layers + (head_kind == HeadKind::kTransformer ? n_future : 0);
  }
  int64_t parameter_count() const;
  // Every constraint, each failure naming the field and its value.
  Status validate() const;
};

// Named presets sized for a 2-core CPU: tiny (~1M parameters, for tests),
// small (~5M), base (~20M).
Result<ModelConfig> model_preset(const std::string& name);
std::vector<std::string> model_preset_names();

nlohmann::json model_config_to_json(const ModelConfig& config);
// Reads the fields present over the defaults; unknown fields are an error so
// a typo is not silently ignored. `source` names the file in messages.
Result<ModelConfig> model_config_from_json(const nlohmann::json& j, const std::string& source);
// Hugging Face's `rope_scaling` object (or null): "rope_type" or "type" is
// default/none, linear (factor) or llama3 (factor, low_freq_factor,
// high_freq_factor, original_max_position_embeddings); any other type is an
// error naming it. mtpc's config JSON uses the same object.
Result<RopeScaling> rope_scaling_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace mtpc
