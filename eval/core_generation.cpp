#include "eval/core_generation.h"

#include <chrono>
#include <filesystem>
#include <memory>

#include "eval/generated_samples.h"

namespace mtpc::eval {
namespace {

using Clock = std::chrono::steady_clock;

GeneratedSample complete_hole(completion::Completer& completer, const std::string& id, const CoreHole& hole,
                              const completion::Settings& settings,
                              const std::function<std::string(const std::string&)>& scored) {
  completion::OpenDocument doc(hole.language, hole.text, hole.uri);
  completion::CompletionRequest request;
  request.cursor = hole.cursor;
  request.settings = settings;
  request.received = Clock::now();
  const completion::Completion c = completer.complete(doc, request);
  const double wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - request.received).count();

  GeneratedSample s;
  s.task_id = id;
  s.index = 0;
  s.seconds = wall_ms / 1000;
  if (!c.ok()) {
    s.error = c.error.empty() ? "the completion core failed (outcome " +
                                    std::to_string(static_cast<int>(c.outcome)) + ")"
                              : c.error;
    return s;
  }
  s.completion = utf8_sanitized(scored ? scored(c.text) : c.text);
  // No stop reason: the core proposed nothing without running the model.
  s.stop = c.stop_reason.empty() ? kInfillNotRun : c.stop_reason;
  if (c.stats) s.stats = *c.stats;
  s.prompt_truncated = c.prompt_truncated;
  s.wall_ms = wall_ms;
  s.deadline_hit = c.hit_deadline;
  s.syntax_retries = c.retries;
  s.from_retry = c.from_retry;
  return s;
}

}  // namespace

const char* infill_scope_name(const std::optional<completion::CompletionScope>& scope) {
  if (!scope) return "auto";
  return *scope == completion::CompletionScope::kLine ? "line" : "block";
}

nlohmann::json core_settings_json(const completion::Settings& s) {
  return {{"scope", infill_scope_name(s.scope)},
          {"max_lines", s.max_lines},
          {"max_tokens", s.max_tokens},
          {"deadline_ms", s.deadline_ms},
          {"fim", s.fim},
          {"draft_length", s.draft_length},
          {"syntax_retries", s.syntax_retries},
          {"retry_temperature", s.retry_temperature}};
}

Result<GenerationRun> generate_through_core(const std::vector<std::string>& ids,
                                            const std::function<CoreHole(size_t)>& hole,
                                            completion::CompletionModel& model, const CoreGenerateOptions& options,
                                            const std::function<std::string(const std::string&)>& scored,
                                            const std::function<void(const GenerationProgress&)>& progress) {
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) return Status::Error(options.out_dir + ": cannot create: " + ec.message());
  if (Status s = check_or_write_generation_settings(options.out_dir, options.settings_json); !s.ok()) return s;
  GenerationRun run;
  Result<std::unique_ptr<GeneratedSamplesLog>> opened =
      GeneratedSamplesLog::open(options.out_dir + "/samples.jsonl", &run.messages);
  if (!opened.ok()) return opened.status();
  GeneratedSamplesLog& log = *opened.value();

  std::vector<size_t> pending;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = log.records().find({ids[i], 0});
    if (it == log.records().end() || !it->second.ok()) pending.push_back(i);
  }
  GenerationProgress p;
  p.tasks_total = ids.size();
  p.tasks_done = ids.size() - pending.size();
  p.samples_total = pending.size();
  if (progress) progress(p);

  completion::CompleterOptions copts;
  if (options.max_prompt_tokens > 0) copts.max_prompt_tokens = static_cast<size_t>(options.max_prompt_tokens);
  completion::Completer completer(&model, copts);
  const Clock::time_point start = Clock::now();
  for (size_t i : pending) {
    GeneratedSample s = complete_hole(completer, ids[i], hole(i), options.settings, scored);
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
  for (const std::string& id : ids) {
    auto it = log.records().find({id, 0});
    if (it != log.records().end()) run.samples.push_back(it->second);
  }
  return run;
}

}  // namespace mtpc::eval
