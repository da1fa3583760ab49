// Meta's multi-token release (facebook/multi-token-prediction): a directory
// with params.json, consolidated.pth (read by pth_reader.h, never unpickled
// by Python's machinery) and tokenizer.model.
//
// params.json: dim, n_layers, n_heads, n_kv_heads (default n_heads),
// vocab_size (<= 0 or absent: from tok_embeddings), multiple_of (256),
// ffn_dim_multiplier (none), norm_eps (1e-5), rope_theta (10000),
// n_future_tokens (1), max_seq_len (4096 when absent: the context our rotary
// table and KV caches are sized for); other fields are ignored.
// The SwiGLU width is Meta's: h = int(2 * 4 * dim / 3), then
// h = int(ffn_dim_multiplier * h) when given, rounded up to a multiple of
// multiple_of.
//
// Layout, as Meta's model code builds it (n = n_future_tokens, L = n_layers):
// `layers` holds L - n + 1 blocks; the trunk is layers.0 .. layers.{L-n-1};
// head 1 (next token) is layers.{L-n}; heads 2..n are extra_heads.0 ..
// extra_heads.{n-2}. Every head is a full transformer block fed the trunk's
// output, and all share `norm` and `output`. So our ModelConfig has
// n_layers = L - n trunk blocks, n_future = n, head_kind transformer:
//   tok_embeddings.weight         -> embedding.weight
//   layers.i.*   (i < L - n)      -> layers.i.*
//   layers.{L-n}.*                -> heads.0.*
//   extra_heads.j.*               -> heads.{j+1}.*
//   norm.weight, output.weight    -> final_norm.weight, unembedding.weight
// (block tensors: attention.w{q,k,v,o}.weight, feed_forward.w{1,2,3}.weight,
// attention_norm.weight, ffn_norm.weight). A `rope.freqs` tensor, which
// some Llama checkpoints carry, is checked for shape and ignored.
//
// Rotary: Meta rotates interleaved pairs (2i, 2i+1) of each head as complex
// numbers; our network rotates (i, i + head_dim/2). The rows of wq and wk are
// permuted at load, per head, so that our row i is Meta's row 2i and our row
// i + head_dim/2 is Meta's 2i + 1: q.k products, and so every attention
// score, are then the same.
//
// Failure: a missing file, a bad params.json field, a missing, misshapen or
// unexpected tensor is an error naming the file and the field or tensor.
// Weights are converted to fp32 from the mapped file, one copy.
#pragma once

#include <torch/torch.h>

#include <string>

#include "base/status.h"
#include "model/checkpoint/checkpoint.h"
#include "model/network/config.h"

namespace mtpc {

// Default context when params.json has no max_seq_len.
inline constexpr int kMetaDefaultMaxSeqLen = 4096;

// The ModelConfig that DIR/params.json describes (shapes only; the tokenizer
// field is "sentencepiece": the model's tokenizer is DIR/tokenizer.model).
Result<ModelConfig> read_meta_params(const std::string& dir);

// Loads DIR (params.json + consolidated.pth) onto `device`, each parameter
// converted once into options.dtype (Meta ships bf16: a 7B model held in
// bf16 takes 14 GB, in fp32 28 GB) and the context capped at
// options.max_context. Parameters are never randomly initialised first.
// provenance: {"format": "meta-multi-token", "params": <params.json>,
// "tokenizer_model": "DIR/tokenizer.model"}.
Result<LoadedModel> load_meta_model(const std::string& dir, torch::Device device = torch::kCPU,
                                    const LoadOptions& options = LoadOptions());

}  // namespace mtpc
