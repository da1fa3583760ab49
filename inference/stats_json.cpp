#include "inference/stats_json.h"

#include <algorithm>

namespace mtpc {

nlohmann::json generation_stats_json(const GenerationStats& stats) {
  nlohmann::json acceptance = nlohmann::json::array();
  for (const std::optional<double>& a : stats.acceptance_per_head())
    acceptance.push_back(a ? nlohmann::json(*a) : nlohmann::json(nullptr));
  // The prompt_tokens_* names are mtpc complete's older ones, kept for its
  // readers.
  return {{"tokens", stats.tokens},
          {"forward_passes", stats.forward_passes},
          {"tokens_per_forward", stats.tokens_per_forward()},
          {"acceptance_per_head", acceptance},
          {"context_drafts_proposed", stats.context_proposed},
          {"context_drafts_accepted", stats.context_accepted},
          {"prefill_tokens", stats.prefill_tokens},
          {"reused_tokens", stats.reused_tokens},
          {"prompt_tokens_computed", stats.prefill_tokens},
          {"prompt_tokens_reused", stats.reused_tokens},
          {"prefill_ms", stats.prefill_ms},
          {"decode_ms", stats.decode_ms}};
}

void add_generation_stats(GenerationStats& into, const GenerationStats& s) {
  into.forward_passes += s.forward_passes;
  into.prefill_tokens += s.prefill_tokens;
  into.reused_tokens += s.reused_tokens;
  into.tokens += s.tokens;
  const size_t heads = std::max(into.proposed.size(), s.proposed.size());
  into.proposed.resize(heads, 0);
  into.accepted.resize(heads, 0);
  for (size_t i = 0; i < s.proposed.size() && i < s.accepted.size(); ++i) {
    into.proposed[i] += s.proposed[i];
    into.accepted[i] += s.accepted[i];
  }
  into.context_proposed += s.context_proposed;
  into.context_accepted += s.context_accepted;
  into.prefill_ms += s.prefill_ms;
  into.decode_ms += s.decode_ms;
}

}  // namespace mtpc
