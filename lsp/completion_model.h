// What the completion service needs from a model: per-document sequences
// (a KV cache each, reused across keystrokes) and generation. The engine
// implements it (lsp/engine_model.cpp); the fuzzer puts a torch-free model
// of a few lines in its place so framing and dispatch are fuzzed without
// LibTorch. Used by the service's engine thread only.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "inference/engine.h"

namespace mtpc::lsp {

class CompletionModel {
 public:
  class Sequence {
   public:
    virtual ~Sequence() = default;
  };

  virtual ~CompletionModel() = default;
  virtual int max_seq_len() const = 0;
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  virtual Result<std::unique_ptr<Sequence>> new_sequence() = 0;
  virtual Result<GenerationResult> generate(Sequence& sequence, const GenerationRequest& request) = 0;
};

// The inference engine as a CompletionModel (links mtpc_inference).
Result<std::unique_ptr<CompletionModel>> load_engine_model(const std::string& model_dir,
                                                           const EngineOptions& options);

}  // namespace mtpc::lsp
