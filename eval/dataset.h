// HumanEval and MBPP, read from the files users pass with --data.
//
// HumanEval: the openai/human-eval JSONL (`HumanEval.jsonl.gz`, or the same
// uncompressed), one task per line with string fields task_id, prompt,
// entry_point, canonical_solution and test.
// MBPP: the original google-research `mbpp.jsonl` (974 tasks), one task per
// line with task_id (integer), text, code, test_list (strings),
// test_setup_code and challenge_test_list. Its splits are fixed by task id:
// prompt 1-10, test 11-510, validation 511-600, train 601-974 (Austin et al.
// 2021; the sanitized and later revisions are different files, not read here).
//
// The loaders check every line and fail on the first bad one, naming the file
// and the 1-based line number; blank lines are skipped, as human-eval does.
// Gzip is detected from the content, not the file name.
//
// HumanEval infilling (Bavarian et al. 2022; the four HumanEval-*Infilling*
// files): one hole per line with string fields task_id
// ("SingleLineInfilling/HumanEval/0/L3", ...), entry_point, prompt (the code
// before the hole), suffix (the code after it), canonical_solution (the
// hole's text) and test. A record without suffix or entry_point (or with an
// empty entry_point) is an error naming its line, as any malformed line is.
// The variants and the editor's document for a hole are in eval/infill.h.
//
// Task ids are canonical strings: "HumanEval/0", "Mbpp/11",
// "SingleLineInfilling/HumanEval/0/L3". Samples files
// may name an MBPP task as 11, "11", "Mbpp/11" or "MBPP/11".
//
// A loaded Dataset is immutable and may be read from many threads. Never throws.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace mtpc::eval {

enum class Benchmark { kHumanEval, kMbpp, kHumanEvalInfill };

const char* benchmark_name(Benchmark b);  // "humaneval", "mbpp", "humaneval-infill"
Result<Benchmark> parse_benchmark(std::string_view name);

struct Task {
  std::string id;  // canonical, see above
  int number = 0;  // HumanEval 0..163 (infilling: the problem's), MBPP task_id 1..974
  // HumanEval (and infilling)
  std::string prompt;
  std::string suffix;  // infilling only: the code after the hole
  std::string entry_point;
  std::string canonical_solution;
  std::string test;
  // MBPP
  std::string text;
  std::string code;
  std::string test_setup_code;
  std::vector<std::string> test_list;
  std::vector<std::string> challenge_test_list;
};

class Dataset {
 public:
  Benchmark benchmark() const { return benchmark_; }
  const std::string& path() const { return path_; }
  const std::vector<Task>& tasks() const { return tasks_; }
  // By canonical id; nullptr if absent.
  const Task* find(const std::string& canonical_id) const;
  // By MBPP task number (or HumanEval index); nullptr if absent, and for
  // infilling (several holes share a number).
  const Task* find_number(int number) const;

 private:
  friend Result<Dataset> load_dataset(Benchmark, const std::string&);
  Benchmark benchmark_ = Benchmark::kHumanEval;
  std::string path_;
  std::vector<Task> tasks_;
  std::unordered_map<std::string, size_t> by_id_;
};

Result<Dataset> load_dataset(Benchmark benchmark, const std::string& path);

// Split names: "test" (HumanEval: all 164 tasks; infilling: every hole; MBPP: 11-510), "all", and
// for MBPP "prompt", "validation", "train". Tasks in file order.
Result<std::vector<const Task*>> select_split(const Dataset& dataset, std::string_view split);

// The canonical id for a task id as written in a samples file, or "" if it
// cannot name a task of this benchmark (wrong type or shape).
std::string canonical_task_id(Benchmark benchmark, const nlohmann::json& id);

}  // namespace mtpc::eval
