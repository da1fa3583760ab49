#include "eval/infill.h"

namespace mtpc::eval {

const char* infill_variant_name(InfillVariant v) {
  switch (v) {
    case InfillVariant::kSingleLine: return "single-line";
    case InfillVariant::kMultiLine: return "multi-line";
    case InfillVariant::kRandomSpan: return "random-span";
    case InfillVariant::kRandomSpanLight: return "random-span-light";
  }
  return "?";
}

Result<InfillVariant> parse_infill_variant(std::string_view name) {
  for (InfillVariant v : {InfillVariant::kSingleLine, InfillVariant::kMultiLine, InfillVariant::kRandomSpan,
                          InfillVariant::kRandomSpanLight}) {
    if (name == infill_variant_name(v)) return v;
  }
  return Status::Error("unknown infilling variant \"" + std::string(name) +
                       "\" (single-line, multi-line, random-span or random-span-light)");
}

const char* infill_task_prefix(InfillVariant v) {
  switch (v) {
    case InfillVariant::kSingleLine: return "SingleLineInfilling/";
    case InfillVariant::kMultiLine: return "MultiLineInfilling/";
    case InfillVariant::kRandomSpan: return "RandomSpanInfilling/";
    case InfillVariant::kRandomSpanLight: return "RandomSpanInfillingLight/";
  }
  return "?";
}

const char* infill_file_name(InfillVariant v) {
  switch (v) {
    case InfillVariant::kSingleLine: return "HumanEval-SingleLineInfilling.jsonl.gz";
    case InfillVariant::kMultiLine: return "HumanEval-MultiLineInfilling.jsonl.gz";
    case InfillVariant::kRandomSpan: return "HumanEval-RandomSpanInfilling.jsonl.gz";
    case InfillVariant::kRandomSpanLight: return "HumanEval-RandomSpanInfillingLight.jsonl.gz";
  }
  return "?";
}

bool infill_whole_lines(InfillVariant v) { return v == InfillVariant::kSingleLine || v == InfillVariant::kMultiLine; }

const char* infill_default_scope(InfillVariant v) { return v == InfillVariant::kSingleLine ? "line" : "block"; }

Status check_infill_dataset(const Dataset& dataset, InfillVariant variant) {
  if (dataset.benchmark() != Benchmark::kHumanEvalInfill)
    return Status::Error(dataset.path() + ": not loaded as humaneval-infill");
  const std::string prefix = infill_task_prefix(variant);
  for (const Task& t : dataset.tasks()) {
    if (t.id.rfind(prefix, 0) != 0) {
      return Status::Error(dataset.path() + ": task " + t.id + " is not a " + infill_variant_name(variant) +
                           " hole (its id does not start with " + prefix + "); pass the variant's file, " +
                           infill_file_name(variant));
    }
    if (infill_whole_lines(variant) && !t.prompt.empty() && t.prompt.back() != '\n') {
      return Status::Error(dataset.path() + ": task " + t.id + ": the prompt does not end at a line start, so the " +
                           infill_variant_name(variant) + " hole is not where the prompt ends");
    }
  }
  return Status::Ok();
}

InfillDocument infill_document(const Task& task, InfillVariant variant) {
  InfillDocument d;
  d.text = task.prompt;
  d.cursor = d.text.size();
  if (infill_whole_lines(variant)) d.text += '\n';
  d.text += task.suffix;
  return d;
}

std::string infill_scored_completion(std::string_view inserted, InfillVariant variant) {
  std::string out(inserted);
  if (infill_whole_lines(variant)) out += '\n';
  return out;
}

std::string infill_constant_completion(const Task& task, InfillVariant variant, std::string_view constant) {
  if (!infill_whole_lines(variant)) return std::string(constant);
  std::string_view prompt = task.prompt;
  std::string indent;
  while (!prompt.empty()) {
    if (prompt.back() == '\n') prompt.remove_suffix(1);
    const size_t begin = prompt.rfind('\n') == std::string_view::npos ? 0 : prompt.rfind('\n') + 1;
    std::string_view line = prompt.substr(begin);
    prompt = prompt.substr(0, begin);
    const size_t text = line.find_first_not_of(" \t\r");
    if (text == std::string_view::npos) continue;  // blank
    indent = std::string(line.substr(0, text));
    const size_t last = line.find_last_not_of(" \t\r");
    if (line[last] == ':') indent += "    ";
    break;
  }
  return indent + std::string(constant) + "\n";
}

const std::vector<std::string>& infill_floor_constants() {
  static const std::vector<std::string> kConstants = {"pass", "return False", "return True", ""};
  return kConstants;
}

}  // namespace mtpc::eval
