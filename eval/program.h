// The Python program that scores one completion: what SandboxRunner runs.
//
// HumanEval (as openai/human-eval builds it):
//   prompt + completion + "\n" + test + "\n" + "check(" + entry_point + ")"
// HumanEval infilling (as openai/human-eval-infilling builds it):
//   prompt + completion + suffix + "\n" + test + "\n" + "check(" + entry_point + ")"
// MBPP (test_setup_code uses names the code defines, so it comes after it):
//   completion + "\n" + test_setup_code + "\n" + the asserts of test_list,
//   one per line; challenge_test_list only when asked for (not by default,
//   as in the paper's numbers).
//
// Reference runs use the dataset's own solution as the completion:
// HumanEval's canonical_solution (which continues the prompt; infilling: the
// hole's text) and MBPP's code.
//
// Pure functions; thread-safe; never throw.
#pragma once

#include <string>
#include <string_view>

#include "eval/dataset.h"

namespace mtpc::eval {

struct ProgramOptions {
  bool mbpp_challenge_tests = false;  // append challenge_test_list too
};

std::string assemble_program(Benchmark benchmark, const Task& task, std::string_view completion,
                             const ProgramOptions& options = {});

std::string reference_completion(Benchmark benchmark, const Task& task);

}  // namespace mtpc::eval
