// HumanEval infilling without the binary: the four files, bad records, the
// editor's document for a hole, the program, and generation through the
// completion core with a scripted stand-in model (resume, settings check,
// latency percentiles).
#include "eval/infill.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/datasets.h"
#include "common/stand_in_tokenizer.h"
#include "eval/dataset.h"
#include "eval/infill_generation.h"
#include "eval/program.h"
#include "test_util.h"

namespace mtpc::eval {
namespace {

using mtpc::testing::Infilling;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;
using nlohmann::json;

json record(const std::string& id = "SingleLineInfilling/HumanEval/0/L1") {
  return {{"task_id", id},
          {"entry_point", "f"},
          {"prompt", "def f(x):\n    y = x + 1\n"},
          {"suffix", "    return y\n"},
          {"canonical_solution", "    y = y * 2\n"},
          {"test", "def check(candidate):\n    assert candidate(1) == 4\n"}};
}

TEST(InfillDataset, LoadsTheFourVariantsAndRefusesAnotherVariantsFile) {
  const std::pair<Infilling, InfillVariant> kinds[] = {{Infilling::kSingleLine, InfillVariant::kSingleLine},
                                                       {Infilling::kMultiLine, InfillVariant::kMultiLine},
                                                       {Infilling::kRandomSpan, InfillVariant::kRandomSpan},
                                                       {Infilling::kRandomSpanLight, InfillVariant::kRandomSpanLight}};
  const size_t counts[] = {1033, 5815, 1640, 164};
  for (size_t i = 0; i < 4; ++i) {
    const auto [file, variant] = kinds[i];
    Result<Dataset> d = load_dataset(Benchmark::kHumanEvalInfill, mtpc::testing::humaneval_infilling_path(file));
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(d->tasks().size(), counts[i]) << infill_variant_name(variant);
    EXPECT_TRUE(check_infill_dataset(*d, variant).ok()) << check_infill_dataset(*d, variant).message();
    const InfillVariant other = variant == InfillVariant::kSingleLine ? InfillVariant::kMultiLine
                                                                      : InfillVariant::kSingleLine;
    Status wrong = check_infill_dataset(*d, other);
    EXPECT_FALSE(wrong.ok());
    EXPECT_NE(wrong.message().find(infill_file_name(other)), std::string::npos) << wrong.message();
  }
  Result<Dataset> single =
      load_dataset(Benchmark::kHumanEvalInfill, mtpc::testing::humaneval_infilling_path(Infilling::kSingleLine));
  ASSERT_TRUE(single.ok());
  const Task* t = single->find("SingleLineInfilling/HumanEval/0/L3");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->number, 0);
  EXPECT_EQ(t->canonical_solution, "                distance = abs(elem - elem2)\n");
  EXPECT_EQ(t->suffix.rfind("                if distance < threshold:\n", 0), 0u);
}

// Each bad record is an error naming the file, its line and what is wrong;
// the loader reads nothing past it (as for HumanEval and MBPP).
TEST(InfillDataset, BadRecordsAreErrorsNamingTheLine) {
  TempDir tmp;
  const std::string path = tmp / "holes.jsonl";
  auto load_with_second_line = [&](const std::string& line) {
    write_file(path, record().dump() + "\n" + line + "\n");
    Result<Dataset> d = load_dataset(Benchmark::kHumanEvalInfill, path);
    return d.ok() ? std::string("loaded") : d.status().message();
  };
  json no_suffix = record("SingleLineInfilling/HumanEval/0/L2");
  no_suffix.erase("suffix");
  EXPECT_EQ(load_with_second_line(no_suffix.dump()), path + ":2: field \"suffix\" is missing or not a string");
  json no_entry = record("SingleLineInfilling/HumanEval/0/L2");
  no_entry.erase("entry_point");
  EXPECT_EQ(load_with_second_line(no_entry.dump()), path + ":2: field \"entry_point\" is missing or not a string");
  json empty_entry = record("SingleLineInfilling/HumanEval/0/L2");
  empty_entry["entry_point"] = "";
  EXPECT_EQ(load_with_second_line(empty_entry.dump()), path + ":2: entry_point is empty");
  EXPECT_EQ(load_with_second_line("{\"task_id\": \"SingleLineInfilling/HumanEval/0/L2\", \"prompt\": "),
            path + ":2: not valid JSON");
  EXPECT_EQ(load_with_second_line("[1, 2]"), path + ":2: not a JSON object");
  EXPECT_EQ(load_with_second_line(record("HumanEval/0").dump()),
            path + ":2: task_id \"HumanEval/0\" is not of the form <Kind>Infilling/HumanEval/<number>/<hole>");
  EXPECT_EQ(load_with_second_line(record().dump()), path + ":2: duplicate task_id SingleLineInfilling/HumanEval/0/L1");
  EXPECT_EQ(load_with_second_line(""), "loaded");  // blank lines are skipped
}

TEST(InfillDataset, AWholeLineHoleMustStartWhereThePromptEnds) {
  TempDir tmp;
  json mid_line = record("SingleLineInfilling/HumanEval/0/L2");
  mid_line["prompt"] = "def f(x):\n    y = x + 1\n    y = y";
  write_file(tmp / "holes.jsonl", record().dump() + "\n" + mid_line.dump() + "\n");
  Result<Dataset> d = load_dataset(Benchmark::kHumanEvalInfill, tmp / "holes.jsonl");
  ASSERT_TRUE(d.ok()) << d.status().message();
  Status s = check_infill_dataset(*d, InfillVariant::kSingleLine);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("SingleLineInfilling/HumanEval/0/L2: the prompt does not end at a line start"),
            std::string::npos)
      << s.message();
}

TEST(InfillProgram, IsPromptCompletionSuffixTestAndCheck) {
  Task t;
  t.prompt = "def f(x):\n";
  t.suffix = "    return y\n";
  t.test = "def check(candidate):\n    assert candidate(1) == 2\n";
  t.entry_point = "f";
  EXPECT_EQ(assemble_program(Benchmark::kHumanEvalInfill, t, "    y = x + 1\n"),
            "def f(x):\n    y = x + 1\n    return y\n\ndef check(candidate):\n    assert candidate(1) == 2\n\ncheck(f)\n");
  t.canonical_solution = "    y = x + 1\n";
  EXPECT_EQ(reference_completion(Benchmark::kHumanEvalInfill, t), t.canonical_solution);
}

TEST(InfillDocument, AWholeLineHoleIsAnEmptyLineAndARandomSpanIsNot) {
  Task t;
  t.prompt = "def f(x):\n";
  t.suffix = "    return y\n";
  t.canonical_solution = "    y = x + 1\n";
  InfillDocument line = infill_document(t, InfillVariant::kMultiLine);
  EXPECT_EQ(line.text, "def f(x):\n\n    return y\n");
  EXPECT_EQ(line.cursor, t.prompt.size());
  EXPECT_EQ(infill_scored_completion("    y = x + 1", InfillVariant::kMultiLine), "    y = x + 1\n");
  EXPECT_EQ(infill_constant_completion(t, InfillVariant::kSingleLine, "return False"), "    return False\n");

  InfillDocument span = infill_document(t, InfillVariant::kRandomSpan);
  EXPECT_EQ(span.text, "def f(x):\n    return y\n");
  EXPECT_EQ(infill_scored_completion("y = 1", InfillVariant::kRandomSpan), "y = 1");
  EXPECT_EQ(infill_constant_completion(t, InfillVariant::kRandomSpan, "pass"), "pass");
}

// Answers with `output` (cut by the stop predicate, as the engine would).
class ScriptedModel final : public completion::CompletionModel {
 public:
  mtpc::testing::StandInTokenizer tok;
  std::string output;
  int calls = 0;
  ScriptedModel() { tok.fim = mtpc::testing::byte_psm(); }
  int max_seq_len() const override { return 4096; }
  const Tokenizer& tokenizer() const override { return tok; }
  Result<std::unique_ptr<Sequence>> new_sequence() override { return std::make_unique<Sequence>(); }
  Result<GenerationResult> generate(Sequence&, const GenerationRequest& r) override {
    ++calls;
    GenerationResult out;
    out.reason = StopReason::kMaxTokens;
    for (size_t i = 1; i <= output.size(); ++i) {
      out.text = output.substr(0, i);
      out.stats.tokens = static_cast<int64_t>(i);
      if (r.stop_predicate) {
        if (auto keep = r.stop_predicate(out.text)) {
          out.text.resize(*keep);
          out.reason = StopReason::kPredicate;
          break;
        }
      }
    }
    return out;
  }
};

// The core's text plus the hole's newline is what is scored; a model that
// writes the hole and then the suffix again is cut before the repeat
// (finalize), so the completion still matches the canonical solution; a
// rerun resumes; other core settings are refused for the same OUT.
TEST(InfillGeneration, CompletesHolesThroughTheCoreAndResumes) {
  Task t;
  t.id = "MultiLineInfilling/HumanEval/0/L1_L1";
  t.prompt = "def f(x):\n";
  t.suffix = "    return y\n";
  t.canonical_solution = "    y = x + 1\n";
  t.entry_point = "f";
  ScriptedModel model;
  model.output = "    y = x + 1\n    return y\n";
  TempDir tmp;
  InfillGenerateOptions o;
  o.out_dir = tmp / "out";
  o.variant = InfillVariant::kMultiLine;
  o.settings.scope = completion::CompletionScope::kBlock;
  Result<GenerationRun> run = generate_infill_samples({&t}, model, o);
  ASSERT_TRUE(run.ok()) << run.status().message();
  ASSERT_EQ(run->samples.size(), 1u);
  const GeneratedSample& s = run->samples[0];
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_EQ(s.completion, t.canonical_solution);
  ASSERT_TRUE(s.wall_ms.has_value());
  EXPECT_GE(*s.wall_ms, 0.0);
  EXPECT_FALSE(s.deadline_hit);
  EXPECT_EQ(run->generated, 1);

  Result<GenerationRun> again = generate_infill_samples({&t}, model, o);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->generated, 0);
  EXPECT_EQ(model.calls, 1);
  ASSERT_EQ(again->samples.size(), 1u);
  EXPECT_EQ(again->samples[0].completion, t.canonical_solution);
  EXPECT_TRUE(again->samples[0].wall_ms.has_value());

  o.settings.deadline_ms = 50;
  Result<GenerationRun> other = generate_infill_samples({&t}, model, o);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("completion.deadline_ms differs"), std::string::npos)
      << other.status().message();
}

TEST(InfillGeneration, LatencyPercentilesAreNearestRankAndCountDeadlineCuts) {
  std::vector<GeneratedSample> samples;
  for (int i = 100; i >= 1; --i) {
    GeneratedSample s;
    s.task_id = "t" + std::to_string(i);
    s.wall_ms = i;
    s.deadline_hit = i > 97;
    samples.push_back(s);
  }
  GeneratedSample failed;
  failed.error = "engine error";
  samples.push_back(failed);
  std::optional<InfillLatency> l = summarize_infill_latency(samples, 300);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->completions, 100);
  EXPECT_EQ(l->p50_ms, 50);
  EXPECT_EQ(l->p95_ms, 95);
  EXPECT_EQ(l->p99_ms, 99);
  EXPECT_EQ(l->max_ms, 100);
  EXPECT_EQ(l->answered, 97);
  EXPECT_EQ(l->cut_by_deadline, 3);
  EXPECT_FALSE(summarize_infill_latency({failed}, 300).has_value());
}

}  // namespace
}  // namespace mtpc::eval
