// The inference engine behind the CompletionModel interface.
#include "inference/engine.h"
#include "lsp/completion_model.h"
#include "model/network/config.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc::lsp {
namespace {

class EngineSequence final : public CompletionModel::Sequence {
 public:
  explicit EngineSequence(Session s) : session(std::move(s)) {}
  Session session;
};

class EngineModel final : public CompletionModel {
 public:
  explicit EngineModel(std::shared_ptr<Engine> engine) : engine_(std::move(engine)) {}
  int max_seq_len() const override { return engine_->config().max_seq_len; }
  std::vector<int32_t> encode(std::string_view text) const override {
    return engine_->tokenizer().encode(text);
  }
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
};

}  // namespace

Result<std::unique_ptr<CompletionModel>> load_engine_model(const std::string& model_dir,
                                                           const EngineOptions& options) {
  auto engine = Engine::load(model_dir, options);
  if (!engine.ok()) return engine.status();
  return std::unique_ptr<CompletionModel>(new EngineModel(std::move(*engine)));
}

}  // namespace mtpc::lsp
