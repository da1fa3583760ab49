// The inference engine behind the CompletionModel interface: the one file of
// completion/ that sees the model's configuration (its context length).
#include "completion/model.h"
#include "inference/engine.h"
#include "model/network/config.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc::completion {
namespace {

class EngineSequence final : public CompletionModel::Sequence {
 public:
  explicit EngineSequence(Session s) : session(std::move(s)) {}
  Session session;
};

class EngineModel final : public CompletionModel {
 public:
  EngineModel(std::shared_ptr<Engine> engine, int max_seq_len)
      : engine_(std::move(engine)), max_seq_len_(max_seq_len) {}
  int max_seq_len() const override { return max_seq_len_; }
  int max_prompt_tokens(int max_new_tokens) const override { return engine_->max_prompt_tokens(max_new_tokens); }
  const Tokenizer& tokenizer() const override { return engine_->tokenizer(); }
  Result<std::unique_ptr<Sequence>> new_sequence() override {
    auto s = engine_->new_session();
    if (!s.ok()) return s.status();
    return std::unique_ptr<Sequence>(new EngineSequence(std::move(*s)));
  }
  Result<GenerationResult> generate(Sequence& sequence, const GenerationRequest& request) override {
    return engine_->generate(static_cast<EngineSequence&>(sequence).session, request);
  }

 private:
  std::shared_ptr<Engine> engine_;
  int max_seq_len_;
};

}  // namespace

Result<std::unique_ptr<CompletionModel>> load_engine_model(const std::string& model_dir,
                                                           const EngineOptions& options) {
  auto engine = Engine::load(model_dir, options);
  if (!engine.ok()) return engine.status();
  const int context = (*engine)->config().max_seq_len;
  return std::unique_ptr<CompletionModel>(new EngineModel(std::move(*engine), context));
}

}  // namespace mtpc::completion
