#include "completion/complete_at.h"

#include <chrono>
#include <cstdio>

#include "base/gzip_file.h"
#include "completion/model.h"
#include "inference/stats_json.h"

namespace mtpc::completion {

Result<LocationCompletion> complete_at(const std::string& model_dir, const Location& at, const EngineOptions& engine,
                                       const Settings& settings) {
  Result<std::string> text = read_file(at.path);
  if (!text.ok()) return text.status();
  const Language language = language_from_path(at.path);
  OpenDocument doc(language, std::move(*text), at.path);
  const std::optional<size_t> offset = offset_at(doc.text(), at.line - 1, at.column - 1);
  if (!offset)
    return Status::Error("line " + std::to_string(at.line) + " is outside the document " + at.path);
  auto model = load_engine_model(model_dir, engine);
  if (!model.ok()) return model.status();
  Completer completer(model->get());
  CompletionRequest request;
  request.cursor = *offset;
  request.settings = settings;
  const Completion c = completer.complete(doc, request);
  if (!c.ok()) return Status::Error(c.error);
  const double total_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - request.received).count();

  LocationCompletion out;
  out.text = c.text;
  nlohmann::json stats = nullptr;
  if (c.stats) {
    stats = generation_stats_json(*c.stats);
    stats["stop_reason"] = c.stop_reason;
  }
  out.json = {{"completion", c.text}, {"file", at.path},  {"line", at.line},
              {"column", at.column},  {"language", language_name(language)},
              {"deadline_hit", c.hit_deadline}, {"total_ms", total_ms}, {"stats", stats},
              {"syntax_retries", c.retries},    {"from_retry", c.from_retry}};
  char line[512];
  std::snprintf(line, sizeof line, "-- %.1f ms", total_ms);
  out.summary = line;
  if (const GenerationStats* s = c.stats ? &*c.stats : nullptr) {
    std::snprintf(line, sizeof line,
                  " (prefill %.1f ms for %lld prompt tokens, %lld reused; decode %.1f ms): "
                  "%lld tokens in %lld forward passes, %.2f tokens/pass; stop: %s%s",
                  s->prefill_ms, (long long)s->prefill_tokens, (long long)s->reused_tokens, s->decode_ms,
                  (long long)s->tokens, (long long)s->forward_passes, s->tokens_per_forward(), c.stop_reason.c_str(),
                  c.hit_deadline ? " (the deadline cut it; --deadline-ms raises it)" : "");
    out.summary += line;
  }
  return out;
}

}  // namespace mtpc::completion
