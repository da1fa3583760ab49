// Heads-only checkpoints: drafting heads retrofitted onto a frozen base
// model (`mtpc train heads`), stored apart from the base. LibTorch header.
//
// A heads directory:
//   config.json       {"format": "mtpc-heads", "format_version": 1,
//                      "base": path of the base directory, relative to this
//                              directory (absolute when it cannot be),
//                      "base_absolute": the same path, absolute,
//                      "base_sha256": base_checksum() of the base,
//                      "n_future": N, "head_kind": "mlp" | "transformer",
//                      "dim", "hidden_dim": the heads' widths,
//                      "provenance": {...}}
//   heads.safetensors heads.1.* .. heads.{N-1}.*, named as in checkpoint.h.
//   (training adds optimizer.safetensors and trainer_state.json)
// Head 1 (heads.0, the next-token head) stays the base's own, so the model
// loaded from a heads directory predicts exactly the base's next tokens: only
// the drafts change.
//
// `load_model` (checkpoint.h) loads a heads directory as base + heads, so
// every `--model` flag takes one. Errors, each naming the file: a missing
// base, a base whose checksum differs (another model, or a changed one),
// widths that disagree with the base, a heads file that holds fewer heads
// than config.json's n_future, head kinds the base cannot take.
#pragma once

#include <torch/torch.h>

#include <string>

#include "base/status.h"
#include "model/checkpoint/checkpoint.h"

namespace mtpc {

inline constexpr const char* kHeadsFormat = "mtpc-heads";

// SHA-256 (lowercase hex) of a model directory's config.json and weight
// files (*.safetensors, *.pth, *.bin, in name order; a heads directory's own
// files are never part of it): what a heads checkpoint names its base by.
Result<std::string> base_checksum(const std::string& base_dir);

// The retrofitted model's configuration: the base's with `n_future` heads of
// `kind`. Kinds other than the base's are an error (the network runs heads
// of one kind), as is n_future < 2.
Result<ModelConfig> retrofit_config(const ModelConfig& base, int n_future, HeadKind kind);

// A model of `config` (from retrofit_config) with the base's parameters
// copied in and heads 2..N new: MLP heads as the identity residual (w2 = 0,
// so each starts as the trunk's own state; Medusa's start), transformer
// heads as copies of the base's head 1. Random parts from torch's RNG.
Result<MtpModel> retrofit_model(MtpModelImpl& base, const ModelConfig& config);

// Writes `model`'s heads 2..N as a heads directory into the existing
// directory `dir` (config.json last, each file atomically).
Status write_heads_files(const std::string& dir, MtpModelImpl& model, const std::string& base_dir,
                         const std::string& base_sha256, const nlohmann::json& provenance);

// Names and shapes of heads 2..N of `config` ("heads.1.*" ..).
std::vector<std::pair<std::string, torch::Tensor>> new_head_parameters(MtpModelImpl& model);

// Base + heads; see the top of this file. The base loads with `options`.
Result<LoadedModel> load_heads_model(const std::string& dir, torch::Device device, const LoadOptions& options);

}  // namespace mtpc
