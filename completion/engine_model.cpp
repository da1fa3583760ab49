// The inference engine behind the CompletionModel interface: the one file of
// completion/ that sees the model's configuration (its context length).
#include <algorithm>

#include "completion/model.h"
#include "inference/engine.h"
#include "model/network/config.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc::completion {
namespace {

class EngineSequence final : public CompletionModel::Sequence {
 public:
  explicit EngineSequence(Session s) : session(std::make_shared<Session>(std::move(s))) {}
  // Shared with the scheduler while it decodes on it: a document closed
  // meanwhile does not pull the session from under the engine thread.
  std::shared_ptr<Session> session;
};

class EngineModel final : public CompletionModel {
 public:
  EngineModel(std::shared_ptr<Engine> engine, int max_seq_len, std::unique_ptr<Scheduler> scheduler)
      : engine_(std::move(engine)), max_seq_len_(max_seq_len), scheduler_(std::move(scheduler)) {}
  int max_seq_len() const override { return max_seq_len_; }
  // The engine's room, kept inside the window the trunk was trained on when
  // the checkpoint records it: prompt, answer and the last pass's drafts
  // then sit at positions the model saw in training (a byte-level model
  // trained on 256-byte windows writes worse code from 400-byte prompts).
  int max_prompt_tokens(int max_new_tokens) const override {
    int room = engine_->max_prompt_tokens(max_new_tokens);
    if (const int window = engine_->trained_window(); window > 0)
      room = std::min(room, window - std::max(max_new_tokens, 0) - kPromptDraftRoom);
    return room;
  }
  const Tokenizer& tokenizer() const override { return engine_->tokenizer(); }
  Result<std::unique_ptr<Sequence>> new_sequence() override {
    auto s = engine_->new_session();
    if (!s.ok()) return s.status();
    return std::unique_ptr<Sequence>(new EngineSequence(std::move(*s)));
  }
  Result<GenerationResult> generate(Sequence& sequence, const GenerationRequest& request) override {
    return engine_->generate(*static_cast<EngineSequence&>(sequence).session, request);
  }
  void generate_async(Sequence& sequence, const GenerationRequest& request, const std::string& user,
                      std::function<void(ScheduledResult)> done) override {
    if (!scheduler_) return CompletionModel::generate_async(sequence, request, user, std::move(done));
    scheduler_->submit({user, static_cast<EngineSequence&>(sequence).session, request, std::move(done)});
  }
  bool drain(std::chrono::milliseconds grace) override { return scheduler_ ? scheduler_->drain(grace) : true; }
  void observe_load(std::function<void(int running, int queued)> observer) override {
    if (scheduler_) scheduler_->observe_load(std::move(observer));
    else CompletionModel::observe_load(std::move(observer));
  }

 private:
  std::shared_ptr<Engine> engine_;
  int max_seq_len_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace

Result<std::unique_ptr<CompletionModel>> load_engine_model(const std::string& model_dir,
                                                           const EngineOptions& options,
                                                           std::optional<SchedulerOptions> scheduling) {
  auto engine = Engine::load(model_dir, options);
  if (!engine.ok()) return engine.status();
  const int context = (*engine)->config().max_seq_len;
  std::unique_ptr<Scheduler> scheduler;
  if (scheduling) {
    auto s = Scheduler::start(*engine, *scheduling);
    if (!s.ok()) return s.status();
    scheduler = std::move(*s);
  }
  return std::unique_ptr<CompletionModel>(new EngineModel(std::move(*engine), context, std::move(scheduler)));
}

}  // namespace mtpc::completion
