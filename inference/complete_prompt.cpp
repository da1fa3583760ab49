#include "inference/complete_prompt.h"

#include <cstdio>

#include "inference/stats_json.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc {

Result<PromptCompletion> complete_prompt(const std::string& model_dir, const std::string& prompt,
                                         const EngineOptions& options, GenerationRequest request) {
  auto engine = Engine::load(model_dir, options);
  if (!engine.ok()) return engine.status();
  auto session = (*engine)->new_session();
  if (!session.ok()) return session.status();
  request.prompt = encode_prompt((*engine)->tokenizer(), prompt);
  auto result = (*engine)->generate(*session, request);
  if (!result.ok()) return result.status();

  PromptCompletion out;
  out.text = result->text;
  out.json = generation_stats_json(result->stats);
  const std::string acceptance = out.json["acceptance_per_head"].dump();
  out.json.update({{"stop", stop_reason_name(result->reason)}, {"prompt_truncated", result->prompt_truncated},
                   {"completion", result->text}, {"mode", decode_mode_name(request.mode)}});
  const GenerationStats& s = result->stats;
  char line[512];
  std::snprintf(line, sizeof line,
                "-- %lld tokens in %lld passes (%.2f per pass), prefill %.1f ms, decode %.1f ms (%.0f tokens/s), "
                "stop: %s\n-- acceptance per draft head: ",
                (long long)s.tokens, (long long)s.forward_passes, s.tokens_per_forward(), s.prefill_ms, s.decode_ms,
                s.decode_ms > 0 ? s.tokens * 1000.0 / s.decode_ms : 0.0, stop_reason_name(result->reason));
  out.summary = line + acceptance;
  return out;
}

}  // namespace mtpc
