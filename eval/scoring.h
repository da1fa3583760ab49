// Scores samples in the sandbox with parallel workers and writes everything
// under OUT: results.jsonl (appended per sample, resumable), summary.json,
// report.md and report.html.
//
// Contract: score_samples blocks until every pending sample is scored; it
// calls `progress` from worker threads, one call at a time. It fails (Status)
// only for problems that make the run meaningless: OUT cannot be written,
// OUT belongs to another samples file, the sandbox cannot be created. A
// sample that cannot be run (e.g. the interpreter is missing) is recorded as
// "error: ..." and the run goes on. Never throws.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "eval/dataset.h"
#include "eval/program.h"
#include "eval/report.h"
#include "eval/samples.h"
#include "eval/sandbox.h"

namespace mtpc::eval {

struct ScoreProgress {
  size_t done = 0;  // this invocation
  size_t total = 0;
  size_t passed = 0;
  double elapsed_s = 0;
  double eta_s = 0;  // from the mean time per sample so far
};

struct ScoreOptions {
  std::string out_dir;
  int workers = 0;  // 0: one per core
  SandboxOptions sandbox;
  ProgramOptions program;
  std::function<void(const ScoreProgress&)> progress;
};

struct ScoreRequest {
  const Dataset* dataset = nullptr;
  std::string split;
  std::vector<const Task*> tasks;  // the split (its first N with a limit)
  int split_size = 0;              // the whole split's size when `tasks` is limited; 0 otherwise
  std::vector<Sample> samples;
  std::vector<std::string> problems;  // from reading the samples; carried into the report
  std::string samples_path;           // "" for reference runs
  bool reference = false;
  std::string prompt_format;  // "" when unknown
  std::optional<GenerationSpeed> generation;  // set by generation runs; copied into the summary
  std::optional<InfillSummary> infill;        // set by humaneval-infill runs; copied into the summary
};

Result<EvalSummary> score_samples(const ScoreRequest& request, const ScoreOptions& options);

}  // namespace mtpc::eval
