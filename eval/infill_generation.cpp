#include "eval/infill_generation.h"

#include <algorithm>
#include <cmath>

namespace mtpc::eval {
namespace {

using nlohmann::json;

// What decides the completions; a rerun into the same OUT must match it.
json infill_settings_json(const InfillGenerateOptions& o) {
  json j = {{"benchmark", benchmark_name(Benchmark::kHumanEvalInfill)},
            {"variant", infill_variant_name(o.variant)},
            {"model", o.model_identity},
            {"device", o.device},
            {"dtype", o.dtype},
            {"completion", core_settings_json(o.settings)}};
  // Only when set, so that earlier runs' generation.json still match.
  if (o.max_prompt_tokens > 0) j["completion"]["max_prompt_tokens"] = o.max_prompt_tokens;
  return j;
}

double nearest_rank(const std::vector<double>& sorted, double p) {
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace

Result<GenerationRun> generate_infill_samples(const std::vector<const Task*>& tasks, completion::CompletionModel& model,
                                              const InfillGenerateOptions& options,
                                              const std::function<void(const GenerationProgress&)>& progress) {
  std::vector<std::string> ids;
  for (const Task* t : tasks) ids.push_back(t->id);
  CoreGenerateOptions core;
  core.out_dir = options.out_dir;
  core.settings_json = infill_settings_json(options);
  core.settings = options.settings;
  core.max_prompt_tokens = options.max_prompt_tokens;
  auto hole = [&](size_t i) {
    InfillDocument d = infill_document(*tasks[i], options.variant);
    return CoreHole{completion::Language::kPython, std::move(d.text), tasks[i]->id, d.cursor};
  };
  auto scored = [&](const std::string& text) { return infill_scored_completion(text, options.variant); };
  return generate_through_core(ids, hole, model, core, scored, progress);
}

std::optional<InfillLatency> summarize_infill_latency(const std::vector<GeneratedSample>& samples, int deadline_ms) {
  std::vector<double> ms;
  InfillLatency l;
  for (const GeneratedSample& s : samples) {
    if (!s.ok() || !s.wall_ms) continue;
    ms.push_back(*s.wall_ms);
    if (s.deadline_hit) ++l.cut_by_deadline;
    else ++l.answered;
    if (s.syntax_retries > 0) ++l.retried;
    if (s.from_retry) ++l.replaced;
  }
  if (ms.empty()) return std::nullopt;
  std::sort(ms.begin(), ms.end());
  l.completions = static_cast<int>(ms.size());
  l.p50_ms = nearest_rank(ms, 0.50);
  l.p95_ms = nearest_rank(ms, 0.95);
  l.p99_ms = nearest_rank(ms, 0.99);
  l.max_ms = ms.back();
  l.deadline_ms = deadline_ms;
  l.server_deadline_ms = completion::Settings{}.deadline_ms;
  return l;
}

}  // namespace mtpc::eval
