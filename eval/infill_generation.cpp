#include "eval/infill_generation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "eval/generated_samples.h"

namespace mtpc::eval {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// What decides the completions; a rerun into the same OUT must match it.
json infill_settings_json(const InfillGenerateOptions& o) {
  const completion::Settings& s = o.settings;
  json j = {{"benchmark", benchmark_name(Benchmark::kHumanEvalInfill)},
          {"variant", infill_variant_name(o.variant)},
          {"model", o.model_identity},
          {"device", o.device},
          {"dtype", o.dtype},
          {"completion",
           {{"scope", infill_scope_name(s.scope)},
            {"max_lines", s.max_lines},
            {"max_tokens", s.max_tokens},
            {"deadline_ms", s.deadline_ms},
            {"fim", s.fim},
            {"draft_length", s.draft_length}}}};
  // Only when set, so that earlier runs' generation.json still match.
  if (o.max_prompt_tokens > 0) j["completion"]["max_prompt_tokens"] = o.max_prompt_tokens;
  return j;
}

GeneratedSample complete_hole(completion::Completer& completer, const Task& task, const InfillGenerateOptions& o) {
  const InfillDocument hole = infill_document(task, o.variant);
  completion::OpenDocument doc(completion::Language::kPython, hole.text, task.id);
  completion::CompletionRequest request;
  request.cursor = hole.cursor;
  request.settings = o.settings;
  request.received = Clock::now();
  const completion::Completion c = completer.complete(doc, request);
  const double wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - request.received).count();

  GeneratedSample s;
  s.task_id = task.id;
  s.index = 0;
  s.seconds = wall_ms / 1000;
  if (!c.ok()) {
    s.error = c.error.empty() ? "the completion core failed (outcome " +
                                    std::to_string(static_cast<int>(c.outcome)) + ")"
                              : c.error;
    return s;
  }
  s.completion = utf8_sanitized(infill_scored_completion(c.text, o.variant));
  // No stop reason: the core proposed nothing without running the model.
  s.stop = c.stop_reason.empty() ? kInfillNotRun : c.stop_reason;
  if (c.stats) s.stats = *c.stats;
  s.prompt_truncated = c.prompt_truncated;
  s.wall_ms = wall_ms;
  s.deadline_hit = c.hit_deadline;
  return s;
}

double nearest_rank(const std::vector<double>& sorted, double p) {
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace

const char* infill_scope_name(const std::optional<completion::CompletionScope>& scope) {
  if (!scope) return "auto";
  return *scope == completion::CompletionScope::kLine ? "line" : "block";
}

Result<GenerationRun> generate_infill_samples(const std::vector<const Task*>& tasks, completion::CompletionModel& model,
                                              const InfillGenerateOptions& options,
                                              const std::function<void(const GenerationProgress&)>& progress) {
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) return Status::Error(options.out_dir + ": cannot create: " + ec.message());
  if (Status s = check_or_write_generation_settings(options.out_dir, infill_settings_json(options)); !s.ok())
    return s;
  GenerationRun run;
  Result<std::unique_ptr<GeneratedSamplesLog>> opened =
      GeneratedSamplesLog::open(options.out_dir + "/samples.jsonl", &run.messages);
  if (!opened.ok()) return opened.status();
  GeneratedSamplesLog& log = *opened.value();

  std::vector<const Task*> pending;
  for (const Task* t : tasks) {
    auto it = log.records().find({t->id, 0});
    if (it == log.records().end() || !it->second.ok()) pending.push_back(t);
  }
  GenerationProgress p;
  p.tasks_total = tasks.size();
  p.tasks_done = tasks.size() - pending.size();
  p.samples_total = pending.size();
  if (progress) progress(p);

  completion::CompleterOptions copts;
  if (options.max_prompt_tokens > 0) copts.max_prompt_tokens = static_cast<size_t>(options.max_prompt_tokens);
  completion::Completer completer(&model, copts);
  const Clock::time_point start = Clock::now();
  for (const Task* t : pending) {
    GeneratedSample s = complete_hole(completer, *t, options);
    run.seconds += s.seconds;
    if (Status st = log.append(s); !st.ok()) return st;
    ++run.generated;
    ++p.samples_done;
    ++p.tasks_done;
    p.tokens += s.stats.tokens;
    p.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    p.eta_s = p.elapsed_s / static_cast<double>(p.samples_done) * static_cast<double>(p.samples_total - p.samples_done);
    if (progress) progress(p);
  }
  for (const Task* t : tasks) {
    auto it = log.records().find({t->id, 0});
    if (it != log.records().end()) run.samples.push_back(it->second);
  }
  return run;
}

std::optional<InfillLatency> summarize_infill_latency(const std::vector<GeneratedSample>& samples, int deadline_ms) {
  std::vector<double> ms;
  InfillLatency l;
  for (const GeneratedSample& s : samples) {
    if (!s.ok() || !s.wall_ms) continue;
    ms.push_back(*s.wall_ms);
    if (s.deadline_hit) ++l.cut_by_deadline;
    else ++l.answered;
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
