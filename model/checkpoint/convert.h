// `mtpc convert`: any loadable model directory (mtpc or Hugging Face) written
// as an mtpc checkpoint. Torch-free header.
//
// OUT gets config.json + model.safetensors (names in checkpoint.h, fp32 or
// bf16) and copies of the tokenizer files found in DIR (tokenizer.json,
// tokenizer.model, tokenizer_config.json, generation_config.json,
// mtpc.json), listed in config.json's "tokenizer_files"; a model whose
// tokenizer is read from files keeps "tokenizer": "files", so OUT loads with
// the same tokenizer. The model keeps its own max_seq_len (no max_context
// cap; the engine applies its own when serving). OUT appears whole or not at
// all (written beside it, then renamed into place; an existing OUT is
// replaced). Errors name the file and field; never throws.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "model/checkpoint/safetensors.h"

namespace mtpc {

struct ConvertSummary {
  int64_t parameters = 0;
  std::string dtype;                         // "F32" | "BF16"
  std::vector<std::string> tokenizer_files;  // copied beside the weights
  double seconds = 0;                        // load + write
};

// The tokenizer files convert copies, in this order, when present.
const std::vector<std::string>& tokenizer_file_names();

Result<ConvertSummary> convert_model(const std::string& dir, const std::string& out, DType dtype);

}  // namespace mtpc
