#include "eval/nextline_run.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "completion/completer.h"
#include "completion/model.h"
#include "eval/core_generation.h"
#include "eval/infill_generation.h"
#include "eval/nextline.h"
#include "eval/progress.h"

namespace mtpc::eval {
namespace {

using nlohmann::json;

EvalExit fail(const std::string& message, int code = 1) { return EvalExit{code, message}; }

// Exact matches and the sum of edit similarities over a group of holes.
struct NextlineScore {
  int holes = 0;
  int exact_match = 0;
  double edit_similarity_sum = 0;
  json to_json() const {
    return {{"holes", holes},
            {"exact_match", exact_match},
            {"exact_match_pct", holes ? 100.0 * exact_match / holes : 0.0},
            {"edit_similarity", holes ? edit_similarity_sum / holes : 0.0}};
  }
  void add(bool em, double es) {
    ++holes;
    exact_match += em;
    edit_similarity_sum += es;
  }
};

json settings_json(const EvalOptions& a, const NextlineBenchmark& b, const completion::Settings& s,
                   const json& identity) {
  json completion = core_settings_json(s);
  completion["max_prompt_tokens"] = a.max_prompt_tokens;
  return {{"benchmark", "nextline"},
          {"data", {{"seed", b.header.value("seed", json())}, {"holes", b.holes.size()}}},
          {"model", identity},
          {"device", a.device},
          {"dtype", a.dtype},
          {"completion", completion}};
}

std::string pct(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", x);
  return buf;
}

std::string report_md(const json& summary) {
  std::string md = "# next-line benchmark\n\n";
  md += "- data: `" + summary["data_path"].get<std::string>() + "` (seed " + summary["seed"].dump() + ", " +
        summary["holes"].dump() + " holes)\n";
  md += "- model: `" + summary["model"].get<std::string>() + "`\n";
  md += "- completion core: " + summary["decoder"].get<std::string>() + "\n\n";
  md += "| group | holes | exact match | edit similarity |\n| --- | --- | --- | --- |\n";
  auto row = [&](const std::string& name, const json& s) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "| %s | %d | %.2f%% | %.2f |\n", name.c_str(), s["holes"].get<int>(),
                  s["exact_match_pct"].get<double>(), s["edit_similarity"].get<double>());
    md += buf;
  };
  row("all", summary["overall"]);
  for (const auto& [k, v] : summary["per_language"].items()) row("language " + k, v);
  for (const auto& [k, v] : summary["per_position"].items()) row("position " + k, v);
  if (summary.contains("latency")) {
    const json& l = summary["latency"];
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "\nlatency through the core: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms; %d/%d answered "
                  "before the %d ms deadline; %d/%d within the server's default %d ms\n",
                  l["p50_ms"].get<double>(), l["p95_ms"].get<double>(), l["p99_ms"].get<double>(),
                  l["max_ms"].get<double>(), l["answered"].get<int>(), l["completions"].get<int>(),
                  l["deadline_ms"].get<int>(), l["within_server_deadline"].get<int>(), l["completions"].get<int>(),
                  l["server_deadline_ms"].get<int>());
    md += buf;
  }
  return md;
}

}  // namespace

EvalExit run_nextline_eval(const EvalOptions& a) {
  if (a.model.empty()) return fail("--benchmark nextline needs --model DIR", 2);
  if (!a.samples.empty() || a.reference || !a.constant.empty() || !a.variant.empty())
    return fail("--benchmark nextline takes --model only (not --samples, --reference, --constant, --variant)", 2);
  if (a.n != 1 || a.temperature != 0 || a.batch != 1)
    return fail("nextline completes one hole at a time greedily (the core's decoding): --n, --temperature and "
                "--batch are not supported",
                2);
  if (a.limit < 0) return fail("--limit must be >= 0 (0: every hole)", 2);
  if (a.deadline_ms < 1 || a.max_tokens < 1 || a.max_lines < 1)
    return fail("--deadline-ms, --max-tokens and --max-lines must be at least 1", 2);
  if (a.max_prompt_tokens < 0) return fail("--max-prompt-tokens must be >= 0 (0: the server's budget)", 2);
  if (a.draft_length < 0) return fail("--k must be >= 0", 2);
  std::optional<completion::CompletionScope> scope;
  if (a.scope == "default" || a.scope == "line") scope = completion::CompletionScope::kLine;
  else if (a.scope == "block") return fail("--benchmark nextline completes lines: --scope line or auto", 2);

  Result<NextlineBenchmark> bench = load_nextline(a.data);
  if (!bench.ok()) return fail(bench.status().message());
  std::vector<const NextlineHole*> holes;
  for (const NextlineHole& h : bench->holes) holes.push_back(&h);
  if (a.limit > 0 && holes.size() > static_cast<size_t>(a.limit)) holes.resize(static_cast<size_t>(a.limit));
  if (holes.empty()) return fail(a.data + ": no holes");

  Result<json> identity = model_identity(a.model);
  if (!identity.ok()) return fail(identity.status().message());
  Result<std::unique_ptr<completion::CompletionModel>> model =
      completion::load_engine_model(a.model, EngineOptions{a.device, a.dtype});
  if (!model.ok()) return fail(model.status().message());
  completion::Settings settings;
  settings.scope = scope;
  settings.deadline_ms = a.deadline_ms;
  settings.max_tokens = a.max_tokens;
  settings.max_lines = a.max_lines;
  settings.syntax_retries = a.syntax_retries;
  settings.retry_temperature = a.retry_temperature;
  settings.draft_length = a.draft_length;
  settings.fim = !a.no_fim;
  const std::string model_name = std::filesystem::path(identity->at("path").get<std::string>()).filename().string();
  const std::string out = a.out.empty() ? "runs/eval/nextline-" + model_name : a.out;
  CoreGenerateOptions core;
  core.out_dir = out;
  core.settings_json = settings_json(a, bench.value(), settings, identity.value());
  core.settings = settings;
  core.max_prompt_tokens = a.max_prompt_tokens;
  std::vector<std::string> ids;
  for (const NextlineHole* h : holes) ids.push_back(h->id);
  auto hole = [&](size_t i) {
    const NextlineFile& file = bench->files.at(holes[i]->file);
    return CoreHole{completion::language_from_path(file.path), file.text, file.path,
                    static_cast<size_t>(holes[i]->offset)};
  };
  Result<GenerationRun> generated =
      generate_through_core(ids, hole, *model.value(), core, {}, generation_progress("nextline"));
  if (!generated.ok()) return fail(generated.status().message());
  GenerationRun run = std::move(generated.value());
  for (const std::string& m : run.messages) std::fprintf(stderr, "mtpc eval: %s\n", m.c_str());
  std::map<std::string, GeneratedSample> records;
  for (GeneratedSample& s : run.samples) records.emplace(s.task_id, std::move(s));
  run.samples.clear();  // refilled below with the holes generated without error

  // Scores.
  NextlineScore overall;
  std::map<std::string, NextlineScore> per_language, per_position;
  std::string results;
  int errors = 0, not_run = 0, within_server = 0;
  const int server_deadline_ms = completion::Settings{}.deadline_ms;
  for (const NextlineHole* h : holes) {
    auto it = records.find(h->id);
    if (it == records.end() || !it->second.ok()) {
      ++errors;
      std::fprintf(stderr, "mtpc eval: %s: not generated: %s\n", h->id.c_str(),
                   it == records.end() ? "missing" : it->second.error.c_str());
      continue;
    }
    const GeneratedSample& s = it->second;
    run.samples.push_back(s);
    not_run += s.stop == kInfillNotRun;
    if (s.wall_ms && *s.wall_ms <= server_deadline_ms && !s.deadline_hit) ++within_server;
    const std::string line(first_line(s.completion));
    const bool em = nextline_exact_match(h->truth, line);
    const double es = nextline_edit_similarity(h->truth, line);
    overall.add(em, es);
    per_language[bench->files.at(h->file).language].add(em, es);
    per_position[h->position].add(em, es);
    json r = {{"id", h->id},           {"file", h->file},  {"offset", h->offset}, {"position", h->position},
              {"truth", h->truth},     {"completion", line}, {"exact_match", em}, {"edit_similarity", es},
              {"stop", s.stop}};
    if (s.wall_ms) r["wall_ms"] = *s.wall_ms;
    results += r.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  GenerateOptions speed_options;
  speed_options.decoding.draft_length = a.draft_length;
  speed_options.model_identity = identity.value();
  GenerationSpeed speed = summarize_generation(run, speed_options);
  const std::string decoder =
      "self-speculative greedy, deadline " + std::to_string(a.deadline_ms) + " ms, max " +
      std::to_string(a.max_tokens) + " tokens, " + infill_scope_name(scope) + " scope, " +
      (a.no_fim ? "prefix-only prompts" : "fill-in-the-middle prompts") + ", prompt budget " +
      (a.max_prompt_tokens > 0 ? std::to_string(a.max_prompt_tokens) : "default") + " tokens";

  json summary = {{"benchmark", "nextline"},
                  {"data_path", a.data},
                  {"seed", bench->header.value("seed", json())},
                  {"holes", holes.size()},
                  {"holes_in_file", bench->holes.size()},
                  {"model", a.model},
                  {"decoder", decoder},
                  {"errors", errors},
                  {"not_run", not_run},
                  {"overall", overall.to_json()},
                  {"per_language", json::object()},
                  {"per_position", json::object()},
                  {"generation",
                   {{"samples_generated", run.generated},
                    {"samples_resumed", static_cast<int>(run.samples.size()) - run.generated},
                    {"tokens", speed.tokens},
                    {"forward_passes", speed.forward_passes},
                    {"tokens_per_forward", speed.tokens_per_forward},
                    {"prompts_truncated", speed.prompts_truncated}}}};
  for (const auto& [k, v] : per_language) summary["per_language"][k] = v.to_json();
  for (const auto& [k, v] : per_position) summary["per_position"][k] = v.to_json();
  if (std::optional<InfillLatency> l = summarize_infill_latency(run.samples, a.deadline_ms)) {
    summary["latency"] = {{"completions", l->completions},
                          {"p50_ms", l->p50_ms},
                          {"p95_ms", l->p95_ms},
                          {"p99_ms", l->p99_ms},
                          {"max_ms", l->max_ms},
                          {"deadline_ms", l->deadline_ms},
                          {"server_deadline_ms", l->server_deadline_ms},
                          {"answered", l->answered},
                          {"cut_by_deadline", l->cut_by_deadline},
                          {"syntax_retried", l->retried},
                          {"syntax_replaced", l->replaced},
                          {"within_server_deadline", within_server}};
  }
  if (Status s = write_file_atomic(out + "/results.jsonl", results); !s.ok()) return fail(s.message());
  if (Status s = write_file_atomic(out + "/summary.json", summary.dump(2) + "\n"); !s.ok()) return fail(s.message());
  if (Status s = write_file_atomic(out + "/report.md", report_md(summary)); !s.ok()) return fail(s.message());

  if (a.json) {
    std::printf("%s\n", summary.dump(2).c_str());
  } else {
    std::printf("nextline: %d holes; exact match %d/%d (%s), edit similarity %.2f; %d not generated\n",
                overall.holes, overall.exact_match, overall.holes,
                pct(overall.holes ? 100.0 * overall.exact_match / overall.holes : 0).c_str(),
                overall.holes ? overall.edit_similarity_sum / overall.holes : 0.0, errors);
    for (const auto& [k, v] : per_language)
      std::printf("  language %s: %d holes, exact match %s, edit similarity %.2f\n", k.c_str(), v.holes,
                  pct(100.0 * v.exact_match / v.holes).c_str(), v.edit_similarity_sum / v.holes);
    for (const auto& [k, v] : per_position)
      std::printf("  position %s: %d holes, exact match %s, edit similarity %.2f\n", k.c_str(), v.holes,
                  pct(100.0 * v.exact_match / v.holes).c_str(), v.edit_similarity_sum / v.holes);
    if (summary.contains("latency")) {
      const json& l = summary["latency"];
      std::printf("latency: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms; %d/%d answered before the %d ms "
                  "deadline, %d within the server's default %d ms\n",
                  l["p50_ms"].get<double>(), l["p95_ms"].get<double>(), l["p99_ms"].get<double>(),
                  l["max_ms"].get<double>(), l["answered"].get<int>(), l["completions"].get<int>(),
                  l["deadline_ms"].get<int>(), within_server, server_deadline_ms);
      std::printf("syntax: %d greedy completions broke the syntax around the hole and decoded alternatives; %d "
                  "answered with one\n",
                  l["syntax_retried"].get<int>(), l["syntax_replaced"].get<int>());
    }
    std::printf("generation: %s; %.2f tokens per forward pass, %d prompts truncated\n", decoder.c_str(),
                speed.tokens_per_forward, speed.prompts_truncated);
    std::printf("wrote %s/{generation.json,samples.jsonl,results.jsonl,summary.json,report.md}\n", out.c_str());
  }
  std::fflush(stdout);
  return {errors > 0 ? 3 : 0, ""};
}

}  // namespace mtpc::eval
