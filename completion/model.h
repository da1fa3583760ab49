// What the completer needs from a model: its tokenizer (text, and the
// fill-in-the-middle template), its context length, per-document sequences
// (a KV cache each, reused across keystrokes) and generation. The inference
// engine implements it (completion/engine_model.cpp, load_engine_model);
// tests and the fuzzer put torch-free stand-ins in its place. Used by one
// thread at a time (the one that owns the model).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "inference/engine.h"
#include "inference/scheduler.h"
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
  // longer one loses its first tokens: BOS and the FIM prefix marker); the
  // engine's model also keeps prompt and answer inside the window its trunk
  // was trained on, when the checkpoint records it.
  virtual int max_prompt_tokens(int max_new_tokens) const { return max_seq_len() - max_new_tokens; }
  virtual const Tokenizer& tokenizer() const = 0;
  virtual Result<std::unique_ptr<Sequence>> new_sequence() = 0;
  virtual Result<GenerationResult> generate(Sequence& sequence, const GenerationRequest& request) = 0;
  // Decodes `request` on `sequence` and calls `done` exactly once: here at
  // once (this default: generate()), or, for a model with a scheduler
  // (load_engine_model's), later on its engine thread, decoded together
  // with other users' requests (`user`: the fairness key). The sequence
  // stays valid until then (an engine sequence keeps its session alive).
  virtual void generate_async(Sequence& sequence, const GenerationRequest& request, const std::string& user,
                              std::function<void(ScheduledResult)> done) {
    (void)user;
    ScheduledResult r;
    if (load_observer_) load_observer_(1, 0);
    r.result = generate(sequence, request);
    if (load_observer_) load_observer_(0, 0);
    r.batch_size = 1;
    done(std::move(r));
  }
  // Told the load after every change: sequences decoding, requests waiting
  // to (the scheduler's queue). Set once, before the first request; called
  // from the decoding thread, quick, never calling back into the model.
  virtual void observe_load(std::function<void(int running, int queued)> observer) {
    load_observer_ = std::move(observer);
  }
  // Stops admitting requests and waits up to `grace` for the admitted ones
  // (the rest are cancelled); true when all finished in time. Without a
  // scheduler nothing runs between calls: true.
  virtual bool drain(std::chrono::milliseconds grace) {
    (void)grace;
    return true;
  }

 protected:
  std::function<void(int running, int queued)> load_observer_;
};

// The inference engine as a CompletionModel. Defined in mtpc_completion_engine
// (links LibTorch through mtpc_inference); the rest of completion/ is
// torch-free.
// With `scheduling`, generate_async() goes through a Scheduler (continuous
// batching across users, fair admission, a bounded queue); generate() still
// decodes at once on the caller's thread.
Result<std::unique_ptr<CompletionModel>> load_engine_model(const std::string& model_dir,
                                                           const EngineOptions& options,
                                                           std::optional<SchedulerOptions> scheduling = std::nullopt);

}  // namespace mtpc::completion
