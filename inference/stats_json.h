// Generation statistics as JSON, and summed over requests. Torch-free. Every
// output that prints GenerationStats (mtpc complete, bench decode, eval)
// goes through generation_stats_json, so the fields mean the same everywhere.
#pragma once

#include <nlohmann/json.hpp>

#include "inference/engine.h"

namespace mtpc {

// {"tokens", "forward_passes", "tokens_per_forward", "acceptance_per_head"
//  (null for a head that proposed no drafts), "prefill_tokens",
//  "reused_tokens", "prompt_tokens_computed" (= prefill_tokens),
//  "prompt_tokens_reused" (= reused_tokens), "prefill_ms", "decode_ms"}.
nlohmann::json generation_stats_json(const GenerationStats& stats);

// Adds `s` into `into`: counts, per-head drafts (the longer list wins) and
// times.
void add_generation_stats(GenerationStats& into, const GenerationStats& s);

}  // namespace mtpc
