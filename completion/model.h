// What the completer needs from a model: its tokenizer (text, and the
// fill-in-the-middle template), its context length, per-document sequences
// (a KV cache each, reused across keystrokes) and generation. The inference
// engine implements it (completion/engine_model.cpp, load_engine_model);
// tests and the fuzzer put torch-free stand-ins in its place. Used by one
// thread at a time (the one that owns the model).
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "inference/engine.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc::completion {

class CompletionModel {
 public:
  // The model's state for one document (the engine's Session).
  class Sequence {
   public:
    virtual ~Sequence() = default;
  };

  virtual ~CompletionModel() = default;
  virtual int max_seq_len() const = 0;
  // The longest prompt generate() keeps whole for `max_new_tokens` (a
  // longer one loses its first tokens: BOS and the FIM prefix marker).
  virtual int max_prompt_tokens(int max_new_tokens) const { return max_seq_len() - max_new_tokens; }
  virtual const Tokenizer& tokenizer() const = 0;
  virtual Result<std::unique_ptr<Sequence>> new_sequence() = 0;
  virtual Result<GenerationResult> generate(Sequence& sequence, const GenerationRequest& request) = 0;
};

// The inference engine as a CompletionModel. Defined in mtpc_completion_engine
// (links LibTorch through mtpc_inference); the rest of completion/ is
// torch-free.
Result<std::unique_ptr<CompletionModel>> load_engine_model(const std::string& model_dir,
                                                           const EngineOptions& options);

}  // namespace mtpc::completion
