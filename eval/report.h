// What one evaluation run found, and its three renderings under OUT:
// summary.json (machine-readable), report.md and report.html (one
// self-contained page: inline CSS and SVG bar charts, no scripts, no
// external resources).
//
// The generation-speed section is a fixed place in all three: it stays
// "not measured" until the generation driver (through inference/) fills
// EvalSummary::generation; nothing here invents numbers for it.
//
// Pure functions except write_reports; thread-compatible; never throw.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/passk.h"
#include "model/status.h"

namespace mtpc::eval {

struct OutcomeCounts {
  int passed = 0;
  int failed = 0;
  int timed_out = 0;
  int error = 0;  // harness errors: the sample could not be run
  int total() const { return passed + failed + timed_out + error; }
};

// Filled by generation runs only.
struct GenerationSpeed {
  std::string decoder;                      // e.g. "self-speculative, 4 heads"
  double tokens_per_second = 0;             // generated tokens / generation wall time
  std::vector<double> acceptance_per_head;  // head 2.. : share of drafts accepted
  double speculative_speedup = 0;           // vs next-token decoding of the same samples
  int64_t tokens = 0;
  double seconds = 0;
};

struct EvalSummary {
  std::string benchmark;      // "humaneval", "mbpp"
  std::string split;          // "test", ...
  std::string data_path;
  std::string samples_path;   // "" for a reference run
  bool reference = false;
  std::string prompt_format;  // how samples were generated; "" when unknown (scored from a file)
  std::string created_utc;    // ISO 8601

  int tasks_in_split = 0;
  int tasks_scored = 0;   // with at least one sample
  int samples = 0;        // scored samples (resumed included)
  int samples_resumed = 0;
  OutcomeCounts outcomes;
  std::map<std::string, int> failure_kinds;  // "AssertionError" -> count, "timed out" -> count
  std::vector<PassAtK> pass_at_k;
  std::vector<std::string> problems;  // skipped input lines and other warnings

  std::string isolation;  // IsolationReport::describe()
  bool network_isolated = false;
  std::string python;
  double timeout_s = 0;
  int workers = 0;
  double scoring_seconds = 0;  // wall time of this invocation's scoring

  std::optional<GenerationSpeed> generation;

  // "not comparable" reasons for published numbers; empty when comparable.
  std::vector<std::string> caveats() const;
};

nlohmann::json to_json(const EvalSummary& s);
std::string render_markdown(const std::vector<EvalSummary>& runs);
std::string render_html(const std::vector<EvalSummary>& runs);

// summary.json, report.md, report.html in `out_dir`, each replaced atomically.
Status write_reports(const std::string& out_dir, const EvalSummary& summary);

// failure_kinds as (kind, count), most frequent first.
std::vector<std::pair<std::string, int>> kinds_by_count(const EvalSummary& s);

// The kind of a result string, for the breakdown: "passed", "timed out",
// the exception name of "failed: NameError: ..." ("NameError"), "exited 0
// early", "killed by signal", "error".
std::string failure_kind(const std::string& result);

}  // namespace mtpc::eval
