// The multi-token prediction network (LibTorch). Included by model/ and
// inference/ sources only; other modules use the torch-free headers.
//
// Shapes: tokens [B, T] int64; hidden [B, T, dim]; logits [B, T, vocab].
// Positions are explicit: a call covers absolute positions
// start_pos .. start_pos + T - 1 and, with a KvCache, writes those rows of
// every layer it runs and attends to rows [0, start_pos + T).
//
// Thread contract: a model may be read by several threads (forward under
// NoGradGuard); a KvCache belongs to one sequence and one thread at a time.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "base/status.h"
#include "model/network/config.h"

namespace mtpc {

// Preallocated per-sequence key/value storage, one slot per attention layer
// (trunk blocks first, then transformer heads). Each layer tracks its own
// filled length, since a forward may run only some heads.
struct KvCache {
  std::vector<torch::Tensor> k, v;  // [B, n_kv_heads, capacity, head_dim]
  std::vector<int64_t> lengths;     // rows filled, per layer
  int64_t capacity = 0;

  static KvCache create(const ModelConfig& config, int64_t batch, int64_t capacity,
                        torch::Dtype dtype = torch::kFloat32,
                        torch::Device device = torch::kCPU);
  // Rolls every layer back to at most `length` rows; no copies.
  void truncate(int64_t length);
  // Rows filled in layer 0 (the trunk's first block).
  int64_t length() const { return lengths.empty() ? 0 : lengths[0]; }
};

// x [..., in] times a weight [out, in], plus `bias` [out] when defined. Under
// c10::InferenceMode on the CPU in fp32 it runs model/network/linear_kernel.h (rows
// independent of each other, bit for bit, and no weight packing per call);
// otherwise, and for training, torch's linear.
torch::Tensor linear_apply(const torch::Tensor& x, const torch::Tensor& weight,
                           const torch::Tensor& bias = {});

// How a new model's parameters start. kUninitialized leaves them as
// allocated (torch::empty): for loaders that overwrite every tensor, where
// random initialisation of a 0.5B model would cost seconds for nothing.
enum class ParameterInit { kRandom, kUninitialized };

// A linear projection: `weight` [out, in] and, when built with a bias,
// `bias` [out] (undefined otherwise). Our own module rather than
// torch::nn::Linear so that construction can skip initialisation; kRandom
// runs the same initialiser as torch::nn::Linear (same RNG draws).
class ProjectionImpl : public torch::nn::Module {
 public:
  ProjectionImpl(int64_t in, int64_t out, bool bias, ParameterInit init);
  torch::Tensor forward(const torch::Tensor& x) { return linear_apply(x, weight, bias); }
  torch::Tensor weight, bias;
};
TORCH_MODULE(Projection);

// Token embedding table `weight` [vocab, dim]; kRandom draws N(0, 1) as
// torch::nn::Embedding does.
class TokenEmbeddingImpl : public torch::nn::Module {
 public:
  TokenEmbeddingImpl(int64_t vocab, int64_t dim, ParameterInit init);
  torch::Tensor forward(const torch::Tensor& tokens) { return torch::embedding(weight, tokens); }
  torch::Tensor weight;
};
TORCH_MODULE(TokenEmbedding);

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// Query/key/value projections carry biases when config.attention_bias
// (Qwen2); the output projection never does.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, ParameterInit init);
  // cos/sin: [T, head_dim/2] for the call's positions.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        int64_t start_pos, KvCache* cache, int layer);
  Projection wq{nullptr}, wk{nullptr}, wv{nullptr}, wo{nullptr};

 private:
  int64_t n_heads_, n_kv_heads_, head_dim_;
};
TORCH_MODULE(Attention);

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t dim, int64_t hidden, ParameterInit init);
  torch::Tensor forward(const torch::Tensor& x);  // w2(silu(w1 x) * w3 x)
  Projection w1{nullptr}, w2{nullptr}, w3{nullptr};
};
TORCH_MODULE(FeedForward);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelConfig& c, ParameterInit init);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        int64_t start_pos, KvCache* cache, int layer);
  RMSNorm attention_norm{nullptr}, ffn_norm{nullptr};
  Attention attention{nullptr};
  FeedForward feed_forward{nullptr};
};
TORCH_MODULE(Block);

// Medusa-style head: x + ffn(norm(x)); no attention, no cache.
class MlpHeadImpl : public torch::nn::Module {
 public:
  MlpHeadImpl(const ModelConfig& c, ParameterInit init);
  torch::Tensor forward(const torch::Tensor& x);
  RMSNorm norm{nullptr};
  FeedForward feed_forward{nullptr};
};
TORCH_MODULE(MlpHead);

class MtpModelImpl : public torch::nn::Module {
 public:
  // kRandom: parameters are initialised from the current torch RNG (seed it
  // first). kUninitialized: allocated only; the caller overwrites them all.
  explicit MtpModelImpl(const ModelConfig& config, ParameterInit init = ParameterInit::kRandom);

  const ModelConfig& config() const { return config_; }

  // Narrows the vocabulary to its first n ids (1 <= n <= vocab_size): the
  // embedding and unembedding keep their first n rows (views, no copy) and
  // config().vocab_size becomes n, so logits have n columns and the ids a
  // checkpoint pads its vocabulary with are never produced. The engine calls
  // it with the tokenizer's size. Not for training; a model written after it
  // is a valid n-token model.
  Status limit_output_vocab(int n);
  // The unembedding matrix [vocab, dim]: the embedding's when tied.
  const torch::Tensor& output_weight() const {
    return config_.tie_embeddings ? embedding->weight : unembedding->weight;
  }

  // Shared trunk: embedding and n_layers blocks -> hidden [B, T, dim].
  torch::Tensor trunk(const torch::Tensor& tokens, int64_t start_pos = 0, KvCache* cache = nullptr);
  // Head `index` (0 predicts t+1) applied to trunk output, then the shared
  // final norm and unembedding -> logits [B, T, vocab].
  torch::Tensor head_logits(int index, const torch::Tensor& hidden, int64_t start_pos = 0,
                            KvCache* cache = nullptr);
  // The head's output before the shared final norm and unembedding; with a
  // cache this also fills the head's KV rows (the decoder uses it to bring a
  // head's cache up to date without computing logits).
  torch::Tensor head_states(int index, const torch::Tensor& hidden, int64_t start_pos = 0,
                            KvCache* cache = nullptr);
  // Shared final norm and unembedding.
  torch::Tensor logits(const torch::Tensor& head_states);
  // KV cache slot of head `index` (-1 for MLP heads, which keep no cache).
  int head_cache_layer(int index) const {
    return config_.head_kind == HeadKind::kTransformer ? config_.n_layers + index : -1;
  }
  // Training/analysis: every head at every position; one tensor per head.
  std::vector<torch::Tensor> forward_all(const torch::Tensor& tokens);
  // Incremental decoding: trunk plus heads [0, n_heads) with the cache.
  std::vector<torch::Tensor> forward_decode(const torch::Tensor& tokens, int64_t start_pos,
                                            KvCache& cache, int n_heads);
  // Next-token only: head 0.
  torch::Tensor forward_next(const torch::Tensor& tokens, int64_t start_pos, KvCache& cache);

  TokenEmbedding embedding{nullptr};
  torch::nn::ModuleList layers{nullptr};  // trunk
  torch::nn::ModuleList heads{nullptr};   // Block or MlpHead each
  RMSNorm final_norm{nullptr};
  Projection unembedding{nullptr};  // null when config.tie_embeddings (output_weight())

 private:
  std::pair<torch::Tensor, torch::Tensor> rope(int64_t start_pos, int64_t length) const;
  void init_rope();

  ModelConfig config_;
  torch::Tensor rope_cos_, rope_sin_;  // [max_seq_len, head_dim/2] buffers
};
TORCH_MODULE(MtpModel);

// Rotary inverse frequencies [head_dim / 2] in fp64 for config's rope_theta
// and rope_scaling (Hugging Face's formulas for linear and llama3).
torch::Tensor rope_inverse_frequencies(const ModelConfig& config);

// Parameters by their checkpoint names ("layers.0.attention.wq.weight", ...),
// in a stable order.
std::vector<std::pair<std::string, torch::Tensor>> named_parameters_sorted(MtpModelImpl& model);

}  // namespace mtpc
