// The benchmark datasets the tests read, in ../shared/datasets unless
// configured elsewhere (MTPC_SHARED_DATASETS, from the cache variable
// MTPC_TEST_DATASETS_DIR in tests/CMakeLists.txt). Each function
// checks that its file is there: a missing file throws, and GoogleTest
// reports the exception, naming the path, as the failure of the test (or
// test suite) that asked for it.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace mtpc::testing {

// ../shared/datasets/NAME, checked to be a file.
inline std::string shared_dataset(const std::string& name) {
  const std::string path = std::string(MTPC_SHARED_DATASETS) + "/" + name;
  if (!std::filesystem::is_regular_file(path))
    throw std::runtime_error("dataset file missing: " + path +
                             " (set the cmake cache variable MTPC_TEST_DATASETS_DIR to the datasets directory)");
  return path;
}

// HumanEval, 164 tasks (gzipped JSONL, as OpenAI ships it).
inline std::string humaneval_path() { return shared_dataset("HumanEval.jsonl.gz"); }
// The original MBPP, 974 tasks (JSONL).
inline std::string mbpp_path() { return shared_dataset("mbpp.jsonl"); }

// HumanEval's fill-in-the-middle variants (Bavarian et al. 2022).
enum class Infilling { kSingleLine, kMultiLine, kRandomSpan, kRandomSpanLight };
inline std::string humaneval_infilling_path(Infilling kind) {
  switch (kind) {
    case Infilling::kSingleLine: return shared_dataset("HumanEval-SingleLineInfilling.jsonl.gz");
    case Infilling::kMultiLine: return shared_dataset("HumanEval-MultiLineInfilling.jsonl.gz");
    case Infilling::kRandomSpan: return shared_dataset("HumanEval-RandomSpanInfilling.jsonl.gz");
    case Infilling::kRandomSpanLight: return shared_dataset("HumanEval-RandomSpanInfillingLight.jsonl.gz");
  }
  throw std::logic_error("unknown infilling variant");
}

}  // namespace mtpc::testing
