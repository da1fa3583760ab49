// `mtpc eval`: generate HumanEval/MBPP completions with a model (--model),
// or take them from a file (--samples), or take the datasets' own solutions
// (--reference); score them in the sandbox; pass@k and reports under --out.
//
// Exit codes: 0 all samples generated and scored; 1 the run could not be
// done (bad dataset, model or --out, ...); 2 bad usage; 3 finished, but some
// samples could not be generated or run (engine or harness errors; a rerun
// retries them).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "eval/dataset.h"
#include "eval/generation.h"
#include "eval/samples.h"
#include "eval/scoring.h"
#include "inference/engine.h"
#include "model/network/config.h"

namespace mtpc::cli {
namespace {

struct EvalArgs {
  std::string benchmark;
  std::string data;
  std::string samples;
  bool reference = false;
  std::string split = "test";
  std::string out;
  int workers = 0;
  double timeout_s = eval::SandboxOptions{}.timeout_s;
  std::string python = eval::SandboxOptions{}.python;
  int64_t max_memory_mb = eval::SandboxOptions{}.max_memory_bytes >> 20;
  std::string isolation = "auto";
  bool mbpp_challenge_tests = false;
  // Generation (--model).
  std::string model;
  std::string prompt_format = "default";
  int n = 1;
  double temperature = 0;
  double top_p = 1.0;
  int top_k = 0;
  uint64_t seed = 0;
  int max_new_tokens = eval::DecodingSettings{}.max_new_tokens;
  int draft_length = 0;
  bool no_adaptive = false;
  int limit = 0;
  int batch = 1;  // requests decoded together (Engine::generate_batch)
  std::string dtype = "fp32";
  int speedup_sample = 10;
};

std::string duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return buf;
}

// One line, rewritten in place on a terminal; on a pipe or file, a line per
// tenth of the run, or after kQuietSeconds without one, so logs stay short
// but a slow run still shows it is alive.
class ProgressLine {
 public:
  static constexpr double kQuietSeconds = 60;
  ProgressLine() : tty_(::isatty(2)) {}
  void show(size_t done, size_t total, double elapsed_s, const std::string& text) {
    int tenth = total ? static_cast<int>(done * 10 / total) : 10;
    bool last = done == total;
    if (!tty_ && tenth == last_tenth_ && !last && elapsed_s - last_print_s_ < kQuietSeconds) return;
    if (last && printed_last_) return;
    last_tenth_ = tenth;
    last_print_s_ = elapsed_s;
    printed_last_ = last;
    std::fprintf(stderr, tty_ ? "\r%-110s" : "%s\n", text.c_str());
    if (tty_ && last) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  bool tty_;
  int last_tenth_ = -1;
  double last_print_s_ = 0;
  bool printed_last_ = false;
};

std::function<void(const eval::ScoreProgress&)> scoring_progress(const std::string& label) {
  auto line = std::make_shared<ProgressLine>();
  return [line, label](const eval::ScoreProgress& p) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s: %zu/%zu scored, %zu passed, %.1f/s, ETA %s", label.c_str(), p.done,
                  p.total, p.passed, p.elapsed_s > 0 ? p.done / p.elapsed_s : 0.0, duration(p.eta_s).c_str());
    line->show(p.done, p.total, p.elapsed_s, buf);
  };
}

std::function<void(const eval::GenerationProgress&)> generation_progress(const std::string& label) {
  auto line = std::make_shared<ProgressLine>();
  return [line, label](const eval::GenerationProgress& p) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s: %zu/%zu tasks generated, %zu/%zu samples, %.1f tokens/s, ETA %s",
                  label.c_str(), p.tasks_done, p.tasks_total, p.samples_done, p.samples_total,
                  p.elapsed_s > 0 ? p.tokens / p.elapsed_s : 0.0,
                  p.samples_done ? duration(p.eta_s).c_str() : "?");
    line->show(p.samples_done, p.samples_total, p.elapsed_s, buf);
  };
}

void print_summary(const eval::EvalSummary& s, const std::string& out_dir, const std::string& files) {
  std::string pass;
  for (const eval::PassAtK& p : s.pass_at_k) {
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
    const eval::GenerationSpeed& g = *s.generation;
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
      const eval::SpeedupMeasurement& m = *g.speedup;
      std::printf("speedup: %.2fx (%.1f against %.1f tokens/s, %s) on %d prompts; outputs identical: %s\n",
                  m.speedup(), m.fast_tokens_per_second, m.reference_tokens_per_second, m.reference_decoder.c_str(),
                  m.prompts, !m.identical ? "n/a (sampling)" : *m.identical ? "yes" : "NO");
    }
  }
  std::printf("sandbox: %s\n", s.isolation.c_str());
  for (const std::string& c : s.caveats()) std::printf("caveat: %s\n", c.c_str());
  std::printf("wrote %s/{%s}\n", out_dir.c_str(), files.c_str());
  std::fflush(stdout);
}

eval::ScoreOptions score_options(const EvalArgs& a, const std::string& out_dir) {
  eval::ScoreOptions opts;
  opts.out_dir = out_dir;
  opts.workers = a.workers;
  opts.sandbox.timeout_s = a.timeout_s;
  opts.sandbox.python = a.python;
  opts.sandbox.max_memory_bytes = a.max_memory_mb << 20;
  if (a.isolation == "namespaces") opts.sandbox.isolation = eval::Isolation::kNamespaces;
  if (a.isolation == "user-namespaces") opts.sandbox.isolation = eval::Isolation::kUserNamespaces;
  if (a.isolation == "process-group") opts.sandbox.isolation = eval::Isolation::kProcessGroup;
  opts.program.mbpp_challenge_tests = a.mbpp_challenge_tests;
  opts.progress = scoring_progress(a.benchmark + " " + a.split);
  return opts;
}

[[noreturn]] void fail(const std::string& message, int code = 1) {
  throw CLI::RuntimeError("mtpc eval: " + message, code);
}

void check_generation_args(const EvalArgs& a) {
  if (a.n < 1) fail("--n must be at least 1", 2);
  if (!(a.temperature >= 0) || !std::isfinite(a.temperature)) fail("--temperature must be >= 0 (0: greedy)", 2);
  if (a.n > 1 && a.temperature == 0) {
    fail("--n " + std::to_string(a.n) +
             " needs --temperature > 0: greedy decoding gives the same completion every time (pass@k needs sampling)",
         2);
  }
  if (!(a.top_p > 0 && a.top_p <= 1)) fail("--top-p must be in (0, 1]", 2);
  if (a.top_k < 0) fail("--top-k must be >= 0", 2);
  if (a.max_new_tokens < 1) fail("--max-new-tokens must be at least 1", 2);
  if (a.limit < 0) fail("--limit must be >= 0 (0: every task)", 2);
  if (a.speedup_sample < 0) fail("--speedup-sample must be >= 0 (0: do not measure)", 2);
  if (a.draft_length < 0) fail("--k must be >= 0", 2);
}

// --model: generate what OUT lacks, measure the speedup, score.
int run_generation_eval(const EvalArgs& a, const GlobalOptions& global, eval::Benchmark benchmark,
                        const eval::Dataset& dataset, std::vector<const eval::Task*> tasks) {
  check_generation_args(a);
  const int split_size = static_cast<int>(tasks.size());
  if (a.limit > 0 && tasks.size() > static_cast<size_t>(a.limit)) tasks.resize(static_cast<size_t>(a.limit));
  Result<eval::PromptFormat> format = eval::parse_prompt_format(benchmark, a.prompt_format);
  if (!format.ok()) fail(format.status().message(), 2);
  // The model is checked before anything is written.
  Result<nlohmann::json> identity = eval::model_identity(a.model);
  if (!identity.ok()) fail(identity.status().message());
  Result<std::shared_ptr<Engine>> engine = Engine::load(a.model, EngineOptions{global.device, a.dtype});
  if (!engine.ok()) fail(engine.status().message());
  if (a.draft_length > (*engine)->config().n_future - 1) {
    fail("--k " + std::to_string(a.draft_length) + " exceeds this model's n_future - 1 = " +
             std::to_string((*engine)->config().n_future - 1),
         2);
  }

  eval::GenerateOptions g;
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
  g.device = global.device;
  g.dtype = a.dtype;
  g.batch_size = a.batch;

  const std::string label = a.benchmark + " " + a.split;
  Result<eval::GenerationRun> run =
      eval::generate_samples(dataset, tasks,
                             a.batch > 1 ? eval::batched_decoder(engine.value())
                                         : eval::sequential_decoder(engine.value()),
                             g, generation_progress(label));
  if (!run.ok()) fail(run.status().message());
  for (const std::string& m : run->messages) std::fprintf(stderr, "mtpc eval: %s\n", m.c_str());
  eval::GenerationSpeed speed = eval::summarize_generation(run.value(), g);
  if (a.speedup_sample > 0) {
    std::fprintf(stderr, "%s: measuring the speedup over next-token decoding on %d prompts\n", label.c_str(),
                 std::min<int>(a.speedup_sample, static_cast<int>(tasks.size())));
    Result<eval::SpeedupMeasurement> m = eval::measure_speedup(**engine, dataset, tasks, g, a.speedup_sample);
    if (!m.ok()) fail(m.status().message());
    speed.speedup = m.value();
  }

  eval::ScoreRequest req;
  req.dataset = &dataset;
  req.split = a.split;
  req.tasks = tasks;
  if (static_cast<int>(tasks.size()) < split_size) req.split_size = split_size;
  req.samples_path = g.out_dir + "/samples.jsonl";
  req.prompt_format = eval::prompt_format_name(g.prompt_format);
  for (const eval::GeneratedSample& s : run->samples) {
    if (s.ok()) req.samples.push_back({s.task_id, s.index, s.completion});
    else std::fprintf(stderr, "mtpc eval: %s sample %d: not generated: %s\n", s.task_id.c_str(), s.index, s.error.c_str());
  }
  req.generation = speed;
  Result<eval::EvalSummary> summary = eval::score_samples(req, score_options(a, g.out_dir));
  if (!summary.ok()) fail(summary.status().message());
  print_summary(summary.value(), g.out_dir,
                "generation.json,samples.jsonl," + std::string(a.speedup_sample > 0 ? "speedup.json," : "") +
                    "results.jsonl,summary.json,report.md,report.html");
  return summary->outcomes.error > 0 || speed.errors > 0 ? 3 : 0;
}

int run_eval(const EvalArgs& a, const GlobalOptions& global) {
  Result<eval::Benchmark> benchmark = eval::parse_benchmark(a.benchmark);
  if (!benchmark.ok()) fail(benchmark.status().message());
  Result<eval::Dataset> dataset = eval::load_dataset(benchmark.value(), a.data);
  if (!dataset.ok()) fail(dataset.status().message());
  Result<std::vector<const eval::Task*>> tasks = eval::select_split(dataset.value(), a.split);
  if (!tasks.ok()) fail(tasks.status().message());
  if (!a.model.empty()) return run_generation_eval(a, global, benchmark.value(), dataset.value(), tasks.value());

  eval::ScoreRequest req;
  req.dataset = &dataset.value();
  req.split = a.split;
  req.tasks = tasks.value();
  req.reference = a.reference;
  if (a.reference) {
    req.samples = eval::reference_samples(dataset.value(), req.tasks);
  } else {
    Result<eval::SamplesFile> samples = eval::read_samples(a.samples, dataset.value(), req.tasks);
    if (!samples.ok()) fail(samples.status().message());
    req.samples = std::move(samples->samples);
    req.problems = std::move(samples->problems);
    req.samples_path = a.samples;
    for (const std::string& p : req.problems) std::fprintf(stderr, "mtpc eval: %s\n", p.c_str());
  }
  const std::string out_dir =
      a.out.empty() ? "runs/eval/" + a.benchmark + "-" + a.split + (a.reference ? "-reference" : "") : a.out;
  Result<eval::EvalSummary> summary = eval::score_samples(req, score_options(a, out_dir));
  if (!summary.ok()) fail(summary.status().message());
  print_summary(summary.value(), out_dir, "results.jsonl,summary.json,report.md,report.html");
  return summary->outcomes.error > 0 ? 3 : 0;
}

}  // namespace

void add_eval_command(CLI::App& app, GlobalOptions& global) {
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "HumanEval/MBPP: generate completions with a model (--model), or score a samples file ({\"task_id\", "
      "\"completion\"} JSONL) or the reference solutions; pass@k and reports");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("--benchmark", a->benchmark, "humaneval or mbpp")
      ->required()
      ->check(CLI::IsMember({"humaneval", "mbpp"}));
  cmd->add_option("--data", a->data, "HumanEval.jsonl(.gz) or the original mbpp.jsonl")->required();
  auto* model = cmd->add_option("--model", a->model, "checkpoint directory: generate the completions, then score");
  auto* samples = cmd->add_option("--samples", a->samples, "samples JSONL, plain or gzip");
  auto* reference = cmd->add_flag("--reference", a->reference, "score the dataset's own solutions instead");
  samples->excludes(reference);
  model->excludes(samples)->excludes(reference);
  cmd->add_option("--split", a->split, "test (default), all; MBPP also prompt, validation, train")
      ->capture_default_str();
  cmd->add_option("--out", a->out,
                  "output directory (default runs/eval/<benchmark>-<split>[-reference | -<model directory name>])");
  cmd->add_option("--workers", a->workers, "parallel samples (0: one per core)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--timeout", a->timeout_s, "wall-clock seconds per sample")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--python", a->python, "interpreter for the samples")->capture_default_str();
  cmd->add_option("--max-memory-mb", a->max_memory_mb, "address-space limit per sample process")
      ->check(CLI::Range(int64_t{32}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--isolation", a->isolation, "auto, namespaces, user-namespaces or process-group")
      ->check(CLI::IsMember({"auto", "namespaces", "user-namespaces", "process-group"}))
      ->capture_default_str();
  cmd->add_flag("--mbpp-challenge-tests", a->mbpp_challenge_tests, "also run MBPP's challenge_test_list");

  // Generation options; each needs --model.
  std::vector<CLI::Option*> generation = {
      cmd->add_option("--prompt-format", a->prompt_format, "default; MBPP: 3shot (the default) or docstring")
          ->capture_default_str(),
      cmd->add_option("--n", a->n, "samples per task (> 1 needs --temperature > 0)")->capture_default_str(),
      cmd->add_option("--temperature", a->temperature, "0: greedy (self-speculative); > 0: sampling")
          ->capture_default_str(),
      cmd->add_option("--top-p", a->top_p, "nucleus sampling mass")->capture_default_str(),
      cmd->add_option("--top-k", a->top_k, "0: no top-k cut")->capture_default_str(),
      cmd->add_option("--seed", a->seed, "run seed; each (task, sample) gets its own seed from it")
          ->capture_default_str(),
      cmd->add_option("--max-new-tokens", a->max_new_tokens, "per completion")->capture_default_str(),
      cmd->add_option("--k", a->draft_length, "draft length (0: the model's n_future - 1)")->capture_default_str(),
      cmd->add_flag("--no-adaptive", a->no_adaptive, "keep the draft length fixed"),
      cmd->add_option("--limit", a->limit, "the first N tasks of the split (0: all)")->capture_default_str(),
      cmd->add_option("--batch", a->batch, "prompts decoded together in one forward pass (same outputs)")
          ->check(CLI::Range(1, 64))
          ->capture_default_str(),
      cmd->add_option("--dtype", a->dtype, "fp32 or bf16")
          ->check(CLI::IsMember({"fp32", "bf16"}))
          ->capture_default_str(),
      cmd->add_option("--speedup-sample", a->speedup_sample,
                      "prompts also decoded without speculation to measure the speedup (0: skip)")
          ->capture_default_str(),
  };
  for (CLI::Option* o : generation) o->needs(model);
  cmd->callback([a, model, samples, reference, &global] {
    if (model->count() == 0 && samples->count() == 0 && reference->count() == 0)
      throw CLI::RuntimeError("mtpc eval: give --model DIR, --samples FILE or --reference", 2);
    throw CLI::RuntimeError("", run_eval(*a, global));
  });
}

}  // namespace mtpc::cli
