// `mtpc eval` through the real binary: both reference runs (their output,
// with the scoring time, is printed), samples with bad lines, resuming.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/datasets.h"
#include "test_util.h"

namespace {

using mtpc::testing::humaneval_path;
using mtpc::testing::mbpp_path;
using mtpc::testing::read_file;
using mtpc::testing::read_lines;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;
using nlohmann::json;

const std::string kBinary = MTPC_BINARY;

TEST(CliEval, HumanEvalReferenceSolutionsAllPass) {
  TempDir tmp;
  auto r = run_command(kBinary + " eval --benchmark humaneval --data " + humaneval_path() + " --reference --out " +
                       tmp.path());
  std::printf("%s", r.output.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("humaneval test reference: 164/164 samples passed (pass@1 100.00%)"), std::string::npos);
  json summary = json::parse(read_file(tmp / "summary.json"));
  EXPECT_EQ(summary["outcomes"]["passed"], 164);
  EXPECT_EQ(summary["tasks_scored"], 164);
  EXPECT_EQ(read_lines(tmp / "results.jsonl").size(), 164u);
  EXPECT_GT(summary["scoring_seconds"].get<double>(), 0.0);
}

TEST(CliEval, MbppTestReferenceSolutionsPassExceptTask341) {
  TempDir tmp;
  auto r = run_command(kBinary + " eval --benchmark mbpp --data " + mbpp_path() + " --split test --reference --out " +
                       tmp.path());
  std::printf("%s", r.output.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("mbpp test reference: 499/500 samples passed"), std::string::npos) << r.output;
  std::vector<std::string> failed;
  for (const std::string& line : read_lines(tmp / "results.jsonl")) {
    json j = json::parse(line);
    if (!j["passed"].get<bool>()) failed.push_back(j["task_id"].get<std::string>() + " " + j["result"].get<std::string>());
  }
  // Its reference depends on set ordering (see ../shared/datasets/README.md).
  EXPECT_EQ(failed, std::vector<std::string>{"Mbpp/341 failed: AssertionError"});
}

TEST(CliEval, SamplesWithBadLinesAreScoredAndResumed) {
  TempDir tmp;
  std::string samples = tmp / "samples.jsonl";
  write_file(samples, json{{"task_id", "HumanEval/2"}, {"completion", "    return number % 1.0\n"}}.dump() + "\n" +
                          "not json\n" + json{{"task_id", "HumanEval/2"}, {"completion", "    return 0\n"}}.dump() +
                          "\n" + json{{"task_id", "Nope/1"}, {"completion", ""}}.dump() + "\n");
  std::string cmd = kBinary + " eval --benchmark humaneval --data " + humaneval_path() + " --samples " + samples +
                    " --out " + (tmp / "out") + " --workers 1 --timeout 5";
  auto r = run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(samples + ":2: not a valid JSON object; skipped"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(samples + ":4: unknown task_id \"Nope/1\"; skipped"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1/2 samples passed (pass@1 50.00%) over 1 of 164 tasks"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ETA"), std::string::npos) << "no progress line";
  EXPECT_NE(r.output.find("caveat: 163 of 164 tasks have no samples"), std::string::npos) << r.output;

  auto again = run_command(cmd);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("scored 0 in"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("(2 from an earlier run)"), std::string::npos) << again.output;
  EXPECT_EQ(read_lines(tmp / "out/results.jsonl").size(), 2u);
  EXPECT_NE(read_file(tmp / "out/report.html").find("<svg"), std::string::npos);
}

TEST(CliEval, UsageErrors) {
  auto none = run_command(kBinary + " eval --benchmark humaneval --data " + humaneval_path());
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_NE(none.output.find("give --model DIR, --samples FILE or --reference"), std::string::npos);
  TempDir tmp;
  write_file(tmp / "bad.jsonl", "{\"task_id\": 1}\n");
  auto bad = run_command(kBinary + " eval --benchmark mbpp --data " + (tmp / "bad.jsonl") + " --reference --out " +
                         (tmp / "out"));
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find(tmp / "bad.jsonl:1: field \"text\" is missing"), std::string::npos) << bad.output;
  auto missing_python = run_command(kBinary + " eval --benchmark mbpp --data " + mbpp_path() +
                                    " --split prompt --reference --python /nonexistent/python3 --out " + (tmp / "o2"));
  EXPECT_EQ(missing_python.exit_code, 3) << missing_python.output;
  EXPECT_NE(missing_python.output.find("0/10 samples passed"), std::string::npos) << missing_python.output;
  EXPECT_NE(missing_python.output.find("10 samples could not be run"), std::string::npos) << missing_python.output;
}

}  // namespace
