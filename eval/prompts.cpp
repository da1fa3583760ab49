#include "eval/prompts.h"

namespace mtpc::eval {
namespace {

// Austin et al. 2021 used these tasks (from the 1-10 prompt split) as shots.
constexpr int kShotTasks[] = {2, 3, 4};

std::string mbpp_header(const Task& t) {
  std::string s = "You are an expert Python programmer, and here is your task: " + t.text +
                  " Your code should pass these tests:\n\n";
  for (const std::string& a : t.test_list) s += a + "\n";
  return s;
}

}  // namespace

const char* prompt_format_name(PromptFormat f) {
  switch (f) {
    case PromptFormat::kHumanEval: return "humaneval";
    case PromptFormat::kMbppThreeShot: return "3shot";
    case PromptFormat::kMbppDocstring: return "docstring";
  }
  return "?";
}

Result<PromptFormat> parse_prompt_format(Benchmark benchmark, std::string_view name) {
  if (benchmark == Benchmark::kHumanEval) {
    if (name == "default" || name == "humaneval") return PromptFormat::kHumanEval;
    return Status::Error("HumanEval has one prompt format (\"default\"), not \"" + std::string(name) + "\"");
  }
  if (name == "default" || name == "3shot") return PromptFormat::kMbppThreeShot;
  if (name == "docstring") return PromptFormat::kMbppDocstring;
  return Status::Error("unknown MBPP prompt format \"" + std::string(name) + "\" (3shot or docstring)");
}

const std::vector<std::string>& stop_sequences(PromptFormat format) {
  static const std::vector<std::string> kHumanEvalStops = {"\nclass", "\ndef", "\n#", "\nif", "\nprint"};
  static const std::vector<std::string> kThreeShotStops = {"[DONE]"};
  static const std::vector<std::string> kDocstringStops = {"\nclass", "\nassert", "\n\"\"\"", "\nprint",
                                                           "\nif",     "\n<|/",    "\n```"};
  switch (format) {
    case PromptFormat::kHumanEval: return kHumanEvalStops;
    case PromptFormat::kMbppThreeShot: return kThreeShotStops;
    case PromptFormat::kMbppDocstring: return kDocstringStops;
  }
  return kHumanEvalStops;
}

Result<Prompt> build_prompt(const Dataset& dataset, const Task& task, PromptFormat format) {
  Prompt p;
  p.stop = stop_sequences(format);
  switch (format) {
    case PromptFormat::kHumanEval:
      if (dataset.benchmark() != Benchmark::kHumanEval) return Status::Error("HumanEval prompt for an MBPP task");
      p.text = task.prompt;
      return p;
    case PromptFormat::kMbppDocstring:
      if (dataset.benchmark() != Benchmark::kMbpp) return Status::Error("MBPP prompt for a HumanEval task");
      p.text = "\"\"\"\n" + task.text + "\n" + task.test_list.front() + "\n\"\"\"\n";
      return p;
    case PromptFormat::kMbppThreeShot:
      if (dataset.benchmark() != Benchmark::kMbpp) return Status::Error("MBPP prompt for a HumanEval task");
      for (int number : kShotTasks) {
        const Task* shot = dataset.find_number(number);
        if (!shot) {
          return Status::Error(dataset.path() + ": the three-shot prompt needs MBPP task " +
                               std::to_string(number) + ", which is not in the file");
        }
        p.text += mbpp_header(*shot) + "[BEGIN]\n" + shot->code + "\n[DONE]\n";
      }
      p.text += mbpp_header(task) + "[BEGIN]\n";
      return p;
  }
  return Status::Error("unknown prompt format");
}

std::string truncate_at_stop(std::string_view text, const std::vector<std::string>& stop) {
  size_t cut = text.size();
  for (const std::string& s : stop) {
    if (s.empty()) continue;
    size_t at = text.find(s);
    if (at < cut) cut = at;
  }
  return std::string(text.substr(0, cut));
}

}  // namespace mtpc::eval
