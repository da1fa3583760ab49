// Prompts and stop sequences for generation, per benchmark and format.
//
// Formats
// - kHumanEval: the task's prompt exactly as given (signature + docstring);
//   the model continues the function body.
//   Stops: "\nclass", "\ndef", "\n#", "\nif", "\nprint" — the Codex paper's
//   set (Chen et al. 2021, section 2.3): a new top-level statement ends the
//   function.
// - kMbppThreeShot (MBPP default): the original paper's prompt (Austin et
//   al. 2021; google-research/mbpp README): tasks 2, 3 and 4 as shots, each
//     "You are an expert Python programmer, and here is your task: {text}
//      Your code should pass these tests:\n\n{asserts, one per line}\n
//      [BEGIN]\n{code}\n[DONE]\n"
//   followed by the same header for the task and "[BEGIN]\n"; the model
//   writes the code. Shot code is verbatim from the dataset (CRLF included).
//   Stop: "[DONE]".
// - kMbppDocstring: bigcode-evaluation-harness's MBPP prompt (after InCoder,
//   Fried et al. 2022): "\"\"\"\n{text}\n{first assert}\n\"\"\"\n".
//   Stops, as there: "\nclass", "\nassert", "\n\"\"\"", "\nprint", "\nif",
//   "\n<|/", "\n```".
//
// The completion a sample holds is the text the model produced after the
// prompt, cut at the first stop sequence (truncate_at_stop); the scorer runs
// completions as given and does not cut them again.
//
// Pure functions; thread-safe; never throw.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "eval/dataset.h"

namespace mtpc::eval {

enum class PromptFormat { kHumanEval, kMbppThreeShot, kMbppDocstring };

const char* prompt_format_name(PromptFormat f);  // "humaneval", "3shot", "docstring"
// "default" picks the benchmark's default; "3shot" and "docstring" are MBPP only.
Result<PromptFormat> parse_prompt_format(Benchmark benchmark, std::string_view name);

struct Prompt {
  std::string text;
  std::vector<std::string> stop;
};

const std::vector<std::string>& stop_sequences(PromptFormat format);

// The three-shot format needs tasks 2, 3 and 4 in `dataset`.
Result<Prompt> build_prompt(const Dataset& dataset, const Task& task, PromptFormat format);

// `text` up to (not including) the earliest occurrence of any stop sequence.
std::string truncate_at_stop(std::string_view text, const std::vector<std::string>& stop);

}  // namespace mtpc::eval
