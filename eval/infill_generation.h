// Infilling completions through the completion core: each hole is opened
// as an editor document (eval/infill.h) and completed by the same
// completion::Completer the language server uses, with the model's
// fill-in-the-middle template, context window, stop rule, deadline and
// finalize (no repeat of the suffix, balanced brackets). So a completion that
// runs on into the suffix is cut as the server cuts it: in line scope the
// rest of the line is not repeated; in block scope the completion ends before
// it repeats the first non-blank line after the hole.
//
// OUT/samples.jsonl and OUT/generation.json as in generation.h (resume,
// settings check), through eval/core_generation.h; each record also holds
// "wall_ms" (the completion's time through the core, from the request to
// the finished text) and "deadline_hit". Errors of the core (kFailed) are recorded as the sample's
// error and generated again by a rerun. One sample per hole: the core
// decodes greedily.
//
// Threads: blocks the calling thread and calls `progress` from it; the model
// is used by this thread only. Never throws.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "completion/completer.h"
#include "eval/core_generation.h"
#include "eval/generation.h"
#include "eval/infill.h"
#include "eval/report.h"

namespace mtpc::eval {

struct InfillGenerateOptions {
  std::string out_dir;
  InfillVariant variant = InfillVariant::kSingleLine;
  // The core's settings; settings.scope unset: the cursor decides (editors).
  completion::Settings settings;
  // The completer's prompt budget in tokens; 0: CompleterOptions' default.
  int max_prompt_tokens = 0;
  nlohmann::json model_identity;  // see model_identity() in generation.h
  std::string device = "cpu";
  std::string dtype = "fp32";
};

// Generates what OUT/samples.jsonl lacks for `tasks` and returns all of
// their samples (task order). Fails (Status) when OUT cannot be written,
// belongs to other settings or holds a malformed line.
Result<GenerationRun> generate_infill_samples(const std::vector<const Task*>& tasks, completion::CompletionModel& model,
                                              const InfillGenerateOptions& options,
                                              const std::function<void(const GenerationProgress&)>& progress = {});

// Wall-time percentiles (nearest rank) and the answer rate of the samples
// that carry a wall time; nullopt when none does.
std::optional<InfillLatency> summarize_infill_latency(const std::vector<GeneratedSample>& samples, int deadline_ms);

}  // namespace mtpc::eval
