// HumanEval infilling (Bavarian et al. 2022): the four variants, the
// editor's document for a hole, and the completions that are scored.
//
// A hole as an editor sees it: the document is prompt + gap + suffix with
// the cursor at the end of the prompt. In the whole-line variants
// (single-line, multi-line) the hole is whole lines: the prompt ends at a
// line start, the canonical solution ends with its newline, and the editor
// has an empty line there (gap "\n"; no indentation: the model writes it, as
// the benchmark asks). The text the completion core inserts on that line is
// scored with the line's newline after it (prompt + text + "\n" + suffix is
// the document the user keeps). In the random-span variants the hole is any
// span: gap "" and the text is scored as it is.
//
// Pure functions; thread-safe; never throw.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "eval/dataset.h"

namespace mtpc::eval {

enum class InfillVariant { kSingleLine, kMultiLine, kRandomSpan, kRandomSpanLight };

// "single-line", "multi-line", "random-span", "random-span-light".
const char* infill_variant_name(InfillVariant v);
Result<InfillVariant> parse_infill_variant(std::string_view name);
// The task-id prefix of the variant's records: "SingleLineInfilling/".
const char* infill_task_prefix(InfillVariant v);
// The variant's file in ../shared/datasets: "HumanEval-SingleLineInfilling.jsonl.gz".
const char* infill_file_name(InfillVariant v);
// Single-line and multi-line holes are whole lines; random spans are not.
bool infill_whole_lines(InfillVariant v);
// The completion core's scope for the variant: "line" (single-line: the end
// of the line) or "block" (the others: the end of the block).
const char* infill_default_scope(InfillVariant v);

// Every task of `dataset` is a hole of `variant` (its id starts with the
// variant's prefix), and in the whole-line variants every prompt ends at a
// line start. Fails naming the first task that is not, and what is wrong.
Status check_infill_dataset(const Dataset& dataset, InfillVariant variant);

struct InfillDocument {
  std::string text;   // prompt + gap + suffix
  size_t cursor = 0;  // the end of the prompt
};
InfillDocument infill_document(const Task& task, InfillVariant variant);

// The completion scored for the text the core inserted at the cursor (the
// gap's newline added back in the whole-line variants).
std::string infill_scored_completion(std::string_view inserted, InfillVariant variant);

// A constant line at the hole's indentation, with its newline, in the
// whole-line variants; the constant as it is in the random-span ones. The
// hole's indentation is read from the prompt, not from the answer: that of
// the last non-blank line before the hole, four spaces deeper when that line
// opens a block (ends with ':'). With it the three floors come out as the
// dataset notes give them for single-line (pass 4.3%, return False 5.3%,
// return True 3.5%); the canonical solution's own indentation would give
// 3.6%, 5.8% and 4.2%.
std::string infill_constant_completion(const Task& task, InfillVariant variant, std::string_view constant);

// The trivial floors the dataset notes give for single-line infilling.
// "pass", "return False", "return True" and "" (an empty line: what a model
// that writes nothing scores).
const std::vector<std::string>& infill_floor_constants();

}  // namespace mtpc::eval
