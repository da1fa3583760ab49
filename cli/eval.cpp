// `mtpc eval`: score HumanEval/MBPP samples (or the reference solutions) in
// the sandbox; pass@k and reports under --out.
//
// Exit codes: 0 all samples scored; 1 the run could not be done (bad
// dataset, unwritable --out, ...); 3 finished, but some samples could not be
// run (harness errors; a rerun retries them).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "eval/dataset.h"
#include "eval/samples.h"
#include "eval/scoring.h"

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
};

std::string duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return buf;
}

// One line, rewritten in place on a terminal; on a pipe or file, a line per
// tenth of the run so logs stay short.
class ProgressLine {
 public:
  explicit ProgressLine(std::string label) : label_(std::move(label)), tty_(::isatty(2)) {}
  void update(const eval::ScoreProgress& p) {
    int tenth = p.total ? static_cast<int>(p.done * 10 / p.total) : 10;
    if (!tty_ && tenth == last_tenth_ && p.done != p.total) return;
    last_tenth_ = tenth;
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s: %zu/%zu scored, %zu passed, %.1f/s, ETA %s", label_.c_str(), p.done,
                  p.total, p.passed, p.elapsed_s > 0 ? p.done / p.elapsed_s : 0.0, duration(p.eta_s).c_str());
    std::fprintf(stderr, tty_ ? "\r%-100s" : "%s\n", buf);
    if (tty_ && p.done == p.total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  std::string label_;
  bool tty_;
  int last_tenth_ = -1;
};

int run_eval(const EvalArgs& a) {
  Result<eval::Benchmark> benchmark = eval::parse_benchmark(a.benchmark);
  if (!benchmark.ok()) throw CLI::RuntimeError("mtpc eval: " + benchmark.status().message(), 1);
  Result<eval::Dataset> dataset = eval::load_dataset(benchmark.value(), a.data);
  if (!dataset.ok()) throw CLI::RuntimeError("mtpc eval: " + dataset.status().message(), 1);
  Result<std::vector<const eval::Task*>> tasks = eval::select_split(dataset.value(), a.split);
  if (!tasks.ok()) throw CLI::RuntimeError("mtpc eval: " + tasks.status().message(), 1);

  eval::ScoreRequest req;
  req.dataset = &dataset.value();
  req.split = a.split;
  req.tasks = tasks.value();
  req.reference = a.reference;
  if (a.reference) {
    req.samples = eval::reference_samples(dataset.value(), req.tasks);
  } else {
    Result<eval::SamplesFile> samples = eval::read_samples(a.samples, dataset.value(), req.tasks);
    if (!samples.ok()) throw CLI::RuntimeError("mtpc eval: " + samples.status().message(), 1);
    req.samples = std::move(samples->samples);
    req.problems = std::move(samples->problems);
    req.samples_path = a.samples;
    for (const std::string& p : req.problems) std::fprintf(stderr, "mtpc eval: %s\n", p.c_str());
  }

  eval::ScoreOptions opts;
  opts.out_dir = a.out.empty() ? "runs/eval/" + a.benchmark + "-" + a.split + (a.reference ? "-reference" : "")
                               : a.out;
  opts.workers = a.workers;
  opts.sandbox.timeout_s = a.timeout_s;
  opts.sandbox.python = a.python;
  opts.sandbox.max_memory_bytes = a.max_memory_mb << 20;
  if (a.isolation == "namespaces") opts.sandbox.isolation = eval::Isolation::kNamespaces;
  if (a.isolation == "user-namespaces") opts.sandbox.isolation = eval::Isolation::kUserNamespaces;
  if (a.isolation == "process-group") opts.sandbox.isolation = eval::Isolation::kProcessGroup;
  opts.program.mbpp_challenge_tests = a.mbpp_challenge_tests;
  ProgressLine progress(a.benchmark + " " + a.split);
  opts.progress = [&progress](const eval::ScoreProgress& p) { progress.update(p); };

  Result<eval::EvalSummary> summary = eval::score_samples(req, opts);
  if (!summary.ok()) throw CLI::RuntimeError("mtpc eval: " + summary.status().message(), 1);
  const eval::EvalSummary& s = summary.value();
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
  std::printf("sandbox: %s\n", s.isolation.c_str());
  for (const std::string& c : s.caveats()) std::printf("caveat: %s\n", c.c_str());
  std::printf("wrote %s/{results.jsonl,summary.json,report.md,report.html}\n", opts.out_dir.c_str());
  std::fflush(stdout);
  return s.outcomes.error > 0 ? 3 : 0;
}

}  // namespace

void add_eval_command(CLI::App& app, GlobalOptions& /*global*/) {
  CLI::App* cmd = app.add_subcommand(
      "eval", "score HumanEval/MBPP samples ({\"task_id\", \"completion\"} JSONL) in a sandbox: pass@k and reports");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("--benchmark", a->benchmark, "humaneval or mbpp")
      ->required()
      ->check(CLI::IsMember({"humaneval", "mbpp"}));
  cmd->add_option("--data", a->data, "HumanEval.jsonl(.gz) or the original mbpp.jsonl")->required();
  auto* samples = cmd->add_option("--samples", a->samples, "samples JSONL, plain or gzip");
  auto* reference = cmd->add_flag("--reference", a->reference, "score the dataset's own solutions instead");
  samples->excludes(reference);
  cmd->add_option("--split", a->split, "test (default), all; MBPP also prompt, validation, train")
      ->capture_default_str();
  cmd->add_option("--out", a->out, "output directory (default runs/eval/<benchmark>-<split>[-reference])");
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
  cmd->callback([a, samples, reference] {
    if (samples->count() == 0 && reference->count() == 0)
      throw CLI::RuntimeError("mtpc eval: give --samples FILE or --reference", 2);
    throw CLI::RuntimeError("", run_eval(*a));
  });
}

}  // namespace mtpc::cli
