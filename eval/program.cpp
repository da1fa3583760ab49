#include "eval/program.h"

namespace mtpc::eval {

std::string assemble_program(Benchmark benchmark, const Task& task, std::string_view completion,
                             const ProgramOptions& options) {
  std::string program;
  if (benchmark == Benchmark::kHumanEvalInfill) {
    program.append(task.prompt).append(completion).append(task.suffix).append("\n");
    program.append(task.test).append("\n");
    program.append("check(").append(task.entry_point).append(")\n");
    return program;
  }
  if (benchmark == Benchmark::kHumanEval) {
    program.append(task.prompt).append(completion).append("\n");
    program.append(task.test).append("\n");
    program.append("check(").append(task.entry_point).append(")\n");
    return program;
  }
  program.append(completion).append("\n");
  program.append(task.test_setup_code).append("\n");
  for (const std::string& a : task.test_list) program.append(a).append("\n");
  if (options.mbpp_challenge_tests) {
    for (const std::string& a : task.challenge_test_list) program.append(a).append("\n");
  }
  return program;
}

std::string reference_completion(Benchmark benchmark, const Task& task) {
  return benchmark == Benchmark::kMbpp ? task.code : task.canonical_solution;
}

}  // namespace mtpc::eval
