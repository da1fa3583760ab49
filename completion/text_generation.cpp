#include "completion/text_generation.h"

#include <cmath>

namespace mtpc::completion {

std::optional<std::vector<int32_t>> text_prompt_ids(const Tokenizer& tokenizer, const std::string& prefix,
                                                    const std::optional<std::string>& suffix) {
  const FimTemplate fim = tokenizer.fim_template();
  if (suffix && !fim.available()) return std::nullopt;
  return fim.layout(tokenizer.encode(prefix),
                    suffix ? tokenizer.encode_continuation(*suffix) : std::vector<int32_t>{}, suffix.has_value());
}

PreparedText prepare_text(const CompletionModel& model, const TextRequest& request) {
  PreparedText p;
  auto fail = [&p](TextGeneration::Outcome outcome, std::string message) {
    TextGeneration g;
    g.outcome = outcome;
    g.error = std::move(message);
    p.answer = std::move(g);
    return std::move(p);
  };
  if (request.cancel && request.cancel->cancelled()) return fail(TextGeneration::Outcome::kCancelled, "");
  if (request.max_tokens < 0) return fail(TextGeneration::Outcome::kInvalidInput, "max_tokens must be >= 0");
  if (!(request.temperature >= 0) || !std::isfinite(request.temperature))
    return fail(TextGeneration::Outcome::kInvalidInput, "temperature must be a number >= 0");
  if (!(request.top_p > 0 && request.top_p <= 1))
    return fail(TextGeneration::Outcome::kInvalidInput, "top_p must be in (0, 1]");
  if (request.max_tokens >= model.max_seq_len())
    return fail(TextGeneration::Outcome::kInvalidInput,
                "max_tokens must be below the model's context (" + std::to_string(model.max_seq_len()) + ")");
  auto prompt = text_prompt_ids(model.tokenizer(), request.prefix, request.suffix);
  if (!prompt)
    return fail(TextGeneration::Outcome::kInvalidInput,
                "the model has no fill-in-the-middle template: a suffix cannot be used");

  GenerationRequest& r = p.request;
  r.prompt = std::move(*prompt);
  p.prompt_tokens = static_cast<int>(r.prompt.size());
  r.max_new_tokens = request.max_tokens;
  if (request.temperature == 0) {
    r.mode = DecodeMode::kSpeculative;
  } else {
    r.mode = DecodeMode::kSampling;
    r.sampling.temperature = request.temperature;
    r.sampling.top_p = request.top_p;
    r.sampling.seed = request.seed;
  }
  r.stop_strings = request.stop;
  r.deadline = request.deadline;
  r.cancel = request.cancel;
  r.on_chunk = request.on_chunk;
  return p;
}

TextGeneration finish_text(const PreparedText& prepared, Result<GenerationResult> result) {
  TextGeneration g;
  g.prompt_tokens = prepared.prompt_tokens;
  if (!result.ok()) {
    g.outcome = TextGeneration::Outcome::kFailed;
    g.error = result.status().message();
    return g;
  }
  if (result->reason == StopReason::kCancelled) {
    g.outcome = TextGeneration::Outcome::kCancelled;
    return g;
  }
  g.text = std::move(result->text);
  g.stop_reason = stop_reason_name(result->reason);
  g.prompt_truncated = result->prompt_truncated;
  g.stats = result->stats;
  return g;
}

TextGeneration generate_text(CompletionModel& model, CompletionModel::Sequence& sequence,
                             const TextRequest& request) {
  PreparedText p = prepare_text(model, request);
  if (p.answer) return std::move(*p.answer);
  return finish_text(p, model.generate(sequence, p.request));
}

}  // namespace mtpc::completion
