// `mtpc complete --prompt` as a library call: load a checkpoint, decode one
// raw prompt (no editor context, no fill-in-the-middle) and describe the run.
// Torch-free header.
//
// Threads: blocks the calling thread. Never throws.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "inference/engine.h"

namespace mtpc {

struct PromptCompletion {
  std::string text;     // the completion
  // generation_stats_json plus "stop", "prompt_truncated", "completion" and
  // "mode" (greedy | speculative | sampling).
  nlohmann::json json;
  std::string summary;  // two lines: tokens, passes, speed, stop; acceptance per head
};

// `request.prompt` is replaced by the encoded `prompt`. Errors: the model
// does not load or generation failed.
Result<PromptCompletion> complete_prompt(const std::string& model_dir, const std::string& prompt,
                                         const EngineOptions& options, GenerationRequest request);

}  // namespace mtpc
