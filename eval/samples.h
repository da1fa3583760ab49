// Samples in, results out.
//
// Samples file: the JSONL of openai/human-eval, one {"task_id", "completion"}
// object per line (other fields ignored), plain or gzip. A task may have any
// number of samples; the i-th line of a task in file order is its sample i.
// Bad lines do not stop a run: a malformed line, a missing or non-string
// completion, a task id that is not in the dataset, or one outside the
// selected split is reported as "FILE:LINE: what" and skipped.
//
// Results log: OUT/results.jsonl, one line per scored sample,
//   {"task_id", "sample", "completion", "passed", "result", "seconds"}
// appended as each sample finishes, so a run killed at any point can be
// resumed: a rerun with the same samples and OUT skips every sample whose
// record is there. Records of harness errors ("error: ...") are not final:
// their samples are scored again. A torn last line (a crash mid-write) is cut
// off. Lines are not fsynced one by one; after a machine crash the last few
// samples are simply scored again. Completions with invalid UTF-8 are stored
// with U+FFFD in its place (JSON cannot hold raw bytes).
//
// Never throws.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "eval/dataset.h"

namespace mtpc::eval {

struct Sample {
  std::string task_id;  // canonical
  int index = 0;        // among this task's samples, from 0
  std::string completion;
};

struct SamplesFile {
  std::vector<Sample> samples;        // in file order
  std::vector<std::string> problems;  // "FILE:LINE: what", one per skipped line
};

// `tasks` is the selected split; samples for other tasks are reported.
// Fails only if the file cannot be read.
Result<SamplesFile> read_samples(const std::string& path, const Dataset& dataset,
                                 const std::vector<const Task*>& tasks);

// One sample per task: HumanEval's canonical_solution, MBPP's code.
std::vector<Sample> reference_samples(const Dataset& dataset, const std::vector<const Task*>& tasks);

struct SampleResult {
  std::string task_id;
  int index = 0;
  std::string completion;
  bool passed = false;
  std::string result;  // ExecutionResult::summary()
  double seconds = 0;

  bool is_harness_error() const { return result.rfind("error:", 0) == 0; }
};

// The results log of one OUT directory. append() may be called from several
// threads; the other members are not synchronised.
class ResultsLog {
 public:
  // Reads what is there (the last record of a sample wins) and opens the
  // file for appending, creating it. Fails on an unreadable file or a
  // malformed line other than a torn last one, naming the line.
  static Result<std::unique_ptr<ResultsLog>> open(const std::string& path);
  ~ResultsLog();

  // Final records already in the file (harness errors excluded).
  const std::map<std::pair<std::string, int>, SampleResult>& done() const { return done_; }

  // Fails if the record for this sample holds a different completion: the
  // OUT directory belongs to another samples file.
  Status check_same_sample(const Sample& sample) const;

  Status append(const SampleResult& result);

  const std::string& path() const { return path_; }

 private:
  ResultsLog() = default;
  std::string path_;
  int fd_ = -1;
  std::mutex mu_;
  std::map<std::pair<std::string, int>, SampleResult> done_;
};

// What a JSON round trip of `s` gives back: invalid UTF-8 becomes U+FFFD.
std::string utf8_sanitized(const std::string& s);

}  // namespace mtpc::eval
