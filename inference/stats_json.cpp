#include "inference/stats_json.h"

namespace mtpc {

nlohmann::json generation_stats_json(const GenerationStats& stats) {
  nlohmann::json acceptance = nlohmann::json::array();
  for (const std::optional<double>& a : stats.acceptance_per_head())
    acceptance.push_back(a ? nlohmann::json(*a) : nlohmann::json(nullptr));
  return {{"tokens", stats.tokens},
          {"forward_passes", stats.forward_passes},
          {"tokens_per_forward", stats.tokens_per_forward()},
          {"acceptance_per_head", acceptance},
          {"prefill_tokens", stats.prefill_tokens},
          {"reused_tokens", stats.reused_tokens},
          {"prompt_tokens_computed", stats.prefill_tokens},
          {"prompt_tokens_reused", stats.reused_tokens},
          {"prefill_ms", stats.prefill_ms},
          {"decode_ms", stats.decode_ms}};
}

}  // namespace mtpc
