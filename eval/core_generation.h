// Samples generated through the completion core (completion/completer.h),
// one per hole, for the benchmarks that measure what an editor gets: the
// infilling benchmark (eval/infill_generation.h) and the next-line benchmark
// (eval/nextline_run.h). Both open each hole as an editor document, complete
// it at its cursor with the server's settings, and keep the result in the
// resumable OUT/samples.jsonl (generation.h) with the completion's wall time
// through the core ("wall_ms") and whether the deadline cut it
// ("deadline_hit"). This file holds that shared part: settings check,
// resume, the loop with its progress, the per-hole timing.
//
// Threads: blocks the calling thread and calls `hole`, `scored` and
// `progress` from it; the model is used by this thread only. Never throws.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "completion/completer.h"
#include "eval/generation.h"

namespace mtpc::eval {

// The "stop" of a sample where the core proposed nothing without running
// the model (inside a word with the scope unset, as an editor gets).
inline constexpr const char* kInfillNotRun = "not_run";

// "line", "block" or "auto" (unset).
const char* infill_scope_name(const std::optional<completion::CompletionScope>& scope);

// The core settings that decide a completion, as generation.json records
// them: scope, max_lines, max_tokens, deadline_ms, fim, draft_length.
nlohmann::json core_settings_json(const completion::Settings& settings);

// One hole as the editor document the core completes.
struct CoreHole {
  completion::Language language = completion::Language::kPython;
  std::string text;
  std::string uri;
  size_t cursor = 0;  // byte offset into text
};

struct CoreGenerateOptions {
  std::string out_dir;
  // Written to OUT/generation.json; a rerun into the same OUT must match it.
  nlohmann::json settings_json;
  completion::Settings settings;
  // The completer's prompt budget in tokens; 0: CompleterOptions' default.
  int max_prompt_tokens = 0;
};

// Generates what OUT/samples.jsonl lacks for the holes named `ids` (sample
// index 0 each): hole(i) gives the document of ids[i] (called only for
// those not yet generated), scored(text), if set, turns the core's text into
// the stored completion. Returns every sample the log holds for `ids` (ok or
// not, in ids order); a sample the core failed is recorded with its error
// and generated again by a rerun. Fails (Status) when OUT cannot be
// written, belongs to other settings or a sample cannot be appended.
Result<GenerationRun> generate_through_core(const std::vector<std::string>& ids,
                                            const std::function<CoreHole(size_t)>& hole,
                                            completion::CompletionModel& model, const CoreGenerateOptions& options,
                                            const std::function<std::string(const std::string&)>& scored = {},
                                            const std::function<void(const GenerationProgress&)>& progress = {});

}  // namespace mtpc::eval
