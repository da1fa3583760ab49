// GenerationStats as JSON, the one spelling every command prints. Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include "inference/engine.h"

namespace mtpc {

// tokens, forward_passes, tokens_per_forward, acceptance_per_head (null where
// a head drafted nothing), prefill_tokens, reused_tokens,
// prompt_tokens_computed / prompt_tokens_reused (the same two counts under
// the names `mtpc complete FILE:LINE:COL` printed first), prefill_ms,
// decode_ms.
nlohmann::json generation_stats_json(const GenerationStats& stats);

}  // namespace mtpc
