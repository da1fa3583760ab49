// Checkpoint directories (LibTorch side). The torch-free file formats are in
// safetensors.h and atomic_file.h.
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
//   layers.i.attention.wo.weight [dim, n_heads*hd]
//   layers.i.feed_forward.w1/.w3.weight [hidden, dim]  .w2.weight [dim, hidden]
//   heads.j.*  as layers.i.* for transformer heads; for MLP heads
//              heads.j.norm.weight and heads.j.feed_forward.w{1,2,3}.weight
//   final_norm.weight [dim]   unembedding.weight [vocab, dim]
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

namespace mtpc {

struct LoadedModel {
  MtpModel model{nullptr};
  nlohmann::json provenance;
};

// Reads DIR/config.json and DIR/model.safetensors onto `device` in fp32.
Result<LoadedModel> load_model(const std::string& dir, torch::Device device = torch::kCPU);

// Writes config.json and model.safetensors into the existing directory `dir`
// (each file atomically); `dtype` is F32 or BF16.
Status write_model_files(const std::string& dir, MtpModelImpl& model,
                         const nlohmann::json& provenance, DType dtype = DType::F32);

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
