// `mtpc eval report RUN_DIR...`: several runs side by side, one HTML page
// with a chart of score against latency per benchmark (one point per run,
// named by its model and run directory) and a table. Reads each run's
// summary.json: nextline runs (score: edit similarity, with exact match in
// the table), humaneval-infill runs (pass@1) and HumanEval/MBPP runs (pass@1;
// no latency, so table only). Torch-free. Never throws.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace mtpc::eval {

struct RunPoint {
  std::string dir;
  std::string label;      // "<model directory>: <run directory>"
  std::string benchmark;  // "nextline", "humaneval-infill single-line", "humaneval test", ...
  std::string score_name; // "edit similarity", "pass@1 %"
  double score = 0;
  std::optional<double> exact_match_pct;
  std::optional<double> p50_ms, p95_ms, p99_ms;
  std::optional<double> answer_rate_pct;  // answered before the deadline
  std::optional<double> tokens_per_forward;
};

// Fails naming the directory when summary.json is missing or not a run's.
Result<RunPoint> read_run_point(const std::string& run_dir);

// The page for `points` (at least one).
std::string render_runs_report_html(const std::vector<RunPoint>& points);
// The same table in Markdown (what `mtpc eval report` prints).
std::string render_runs_report_markdown(const std::vector<RunPoint>& points);

}  // namespace mtpc::eval
