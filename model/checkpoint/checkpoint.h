// Checkpoint directories (LibTorch side). The torch-free file formats are in
// safetensors.h and atomic_file.h.
//
// load_model reads any model directory it knows, by what config.json says:
//   "format": "mtpc-checkpoint"  mtpc's own (below)
//   "architectures": [...]       a Hugging Face Llama/Qwen2 directory (hf_checkpoint.h)
//   params.json, no config.json  Meta's multi-token release (meta_checkpoint.h)
//   "format": "mtpc-heads"       retrofitted heads over a base (heads_checkpoint.h)
//
// A model checkpoint is a directory:
//   config.json        {"format": "mtpc-checkpoint", "format_version": 1,
//                       "model": {ModelConfig fields}, "tokenizer": "byte",
//                       "dtype": "F32" | "BF16", "provenance": {...}}
//   model.safetensors  one tensor per parameter, row-major, named as below.
// Tensor names (i: trunk block, j: head):
//   embedding.weight [vocab, dim]
//   layers.i.attention_norm.weight [dim]        layers.i.ffn_norm.weight [dim]
//   layers.i.attention.wq.weight [n_heads*hd, dim]  .wk/.wv [n_kv_heads*hd, dim]
//   layers.i.attention.wq/.wk/.wv.bias  only with "attention_bias"
//   layers.i.attention.wo.weight [dim, n_heads*hd]
//   layers.i.feed_forward.w1/.w3.weight [hidden, dim]  .w2.weight [dim, hidden]
//   heads.j.*  as layers.i.* for transformer heads; for MLP heads
//              heads.j.norm.weight and heads.j.feed_forward.w{1,2,3}.weight
//   final_norm.weight [dim]   unembedding.weight [vocab, dim] (absent with "tie_embeddings")
// A model whose tokenizer is read from files ("tokenizer": "files", e.g.
// written by `mtpc convert` from a Hugging Face directory) keeps them beside
// config.json and lists them in config.json's "tokenizer_files".
// A training checkpoint adds optimizer.safetensors (adamw.m.<name>,
// adamw.v.<name>) and trainer_state.json.
//
// Loading checks everything against config.json and fails with one message
// naming the file and the tensor or field; it never returns a half-loaded model.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "model/checkpoint/safetensors.h"
#include "model/network/network.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc {

struct LoadedModel {
  MtpModel model{nullptr};
  nlohmann::json provenance;
  // The directory's own tokenizer when its loader reads one; null means
  // make_tokenizer(model->config().tokenizer).
  std::shared_ptr<const Tokenizer> tokenizer;
};

// Default cap on the context of a loaded model (LoadOptions::max_context).
inline constexpr int kDefaultMaxContext = 4096;

struct LoadOptions {
  // Caps config.max_seq_len: each session preallocates KV caches of that
  // many positions, and a pretrained model's 32k-128k would cost gigabytes
  // per session. 0: no cap (`mtpc convert` keeps the model's own length).
  int max_context = kDefaultMaxContext;
  // Parameters' dtype for loaders that map weights (Hugging Face): a tensor
  // stored in this dtype is used in place, others are converted once. mtpc
  // checkpoints load in fp32 (the caller converts).
  torch::Dtype dtype = torch::kFloat32;
};

// The window the model's trunk was trained on: provenance.train.seq_len of
// an `mtpc train` checkpoint, looked up through the provenance of heads
// checkpoints ("base") and conversions ("source"); 0 when not recorded
// (imported models, hand-made fixtures) or not a positive integer. Rotary
// positions past it are ones the model never saw: prompt builders keep
// prompt and answer inside it.
int trained_window(const nlohmann::json& provenance);

// Reads a model directory (see the top of this file) onto `device`.
Result<LoadedModel> load_model(const std::string& dir, torch::Device device = torch::kCPU,
                               const LoadOptions& options = {});

// The tensor `info` of `file` as a CPU tensor of `dtype`. For a mapped file
// whose tensor already has that dtype and is aligned, the tensor is the
// mapping's bytes (no copy; the tensor keeps the mapping alive); otherwise a
// converted copy. `info` must come from file.tensors().
torch::Tensor tensor_from_file(const SafetensorsFile& file, const TensorInfo& info, torch::Dtype dtype);

// Writes config.json and model.safetensors into the existing directory `dir`
// (each file atomically); `dtype` is F32 or BF16. `tokenizer_files` (names
// of files the caller put beside them) go into config.json's
// "tokenizer_files" when not empty.
Status write_model_files(const std::string& dir, MtpModelImpl& model,
                         const nlohmann::json& provenance, DType dtype = DType::F32,
                         const std::vector<std::string>& tokenizer_files = {});

// Tensors of a safetensors file into a name -> fp32 CPU tensor map, checked
// against the expected names and shapes: a missing, extra or misshapen tensor
// is an error naming it.
Result<std::map<std::string, torch::Tensor>> read_tensors_checked(
    const std::string& path, const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected);

// Converts tensors (any dtype, any device) and writes them as one safetensors file.
Status write_tensors(const std::string& path,
                     const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                     DType dtype, const std::map<std::string, std::string>& metadata = {});

// Makes `staging` (a complete directory) appear at `target` in one step:
// renameat2(RENAME_EXCHANGE) when target exists, then the old one is removed.
// A crash leaves either the old or the new directory at `target`.
Status publish_directory(const std::string& staging, const std::string& target);

}  // namespace mtpc
