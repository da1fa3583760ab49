// score_samples: resuming, bad input, harness errors, reports.
#include "eval/scoring.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "common/datasets.h"
#include "test_util.h"

namespace mtpc::eval {
namespace {

using mtpc::testing::humaneval_path;
using mtpc::testing::mbpp_path;
using mtpc::testing::read_file;
using mtpc::testing::read_lines;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;
using nlohmann::json;


class Scoring : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<Dataset> d = load_dataset(Benchmark::kHumanEval, humaneval_path());
    ASSERT_TRUE(d.ok());
    dataset_ = std::make_unique<Dataset>(std::move(d.value()));
    tasks_ = select_split(*dataset_, "test").value();
    options_.out_dir = tmp_ / "out";
    options_.workers = 2;
    options_.sandbox.timeout_s = 5;
  }

  std::string canonical(int number) const { return dataset_->find_number(number)->canonical_solution; }

  // Three tasks, two samples each: right and wrong.
  std::string samples_jsonl() const {
    std::string s;
    for (int n : {0, 1, 2}) {
      s += json{{"task_id", "HumanEval/" + std::to_string(n)}, {"completion", canonical(n)}}.dump() + "\n";
      s += json{{"task_id", "HumanEval/" + std::to_string(n)}, {"completion", "    return None\n"}}.dump() + "\n";
    }
    return s;
  }

  Result<EvalSummary> score_file(const std::string& path) {
    Result<SamplesFile> f = read_samples(path, *dataset_, tasks_);
    if (!f.ok()) return f.status();
    ScoreRequest req;
    req.dataset = dataset_.get();
    req.split = "test";
    req.tasks = tasks_;
    req.samples = f->samples;
    req.problems = f->problems;
    req.samples_path = path;
    return score_samples(req, options_);
  }

  TempDir tmp_;
  std::unique_ptr<Dataset> dataset_;
  std::vector<const Task*> tasks_;
  ScoreOptions options_;
};

TEST_F(Scoring, ScoresAndWritesEveryOutput) {
  write_file(tmp_ / "samples.jsonl", samples_jsonl());
  Result<EvalSummary> s = score_file(tmp_ / "samples.jsonl");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->samples, 6);
  EXPECT_EQ(s->outcomes.passed, 3);
  EXPECT_EQ(s->outcomes.failed, 3);
  EXPECT_EQ(s->tasks_scored, 3);
  EXPECT_EQ(s->tasks_in_split, 164);
  ASSERT_EQ(s->pass_at_k.size(), 1u);  // two samples per task: pass@1 only
  EXPECT_NEAR(s->pass_at_k[0].value, 0.5, 1e-12);
  EXPECT_EQ(s->failure_kinds.at("AssertionError"), 3);

  std::vector<std::string> lines = read_lines(options_.out_dir + "/results.jsonl");
  ASSERT_EQ(lines.size(), 6u);
  for (const std::string& line : lines) {
    json r = json::parse(line);
    EXPECT_TRUE(r.contains("task_id") && r.contains("completion") && r.contains("passed") && r.contains("result"));
    EXPECT_EQ(r["passed"].get<bool>(), r["result"] == "passed");
  }
  json summary = json::parse(read_file(options_.out_dir + "/summary.json"));
  EXPECT_EQ(summary["pass_at_k"]["pass@1"].get<double>(), 0.5);
  EXPECT_EQ(summary["outcomes"]["passed"], 3);
  EXPECT_TRUE(summary["generation"].is_null());
  std::string md = read_file(options_.out_dir + "/report.md");
  EXPECT_NE(md.find("| 1 | 50.00% |"), std::string::npos) << md;
  EXPECT_NE(md.find("Generation speed"), std::string::npos);
  std::string html = read_file(options_.out_dir + "/report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("id=\"pass-at-k\""), std::string::npos);
  EXPECT_NE(html.find("id=\"generation-speed-humaneval\""), std::string::npos);
  EXPECT_NE(html.find("Not measured"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://www.w3.org/2000/svg\""), html.find("http"));  // no external resources
}

TEST_F(Scoring, ResumeSkipsScoredSamplesAndRecoversFromATornLine) {
  write_file(tmp_ / "samples.jsonl", samples_jsonl());
  ASSERT_TRUE(score_file(tmp_ / "samples.jsonl").ok());
  Result<EvalSummary> again = score_file(tmp_ / "samples.jsonl");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->samples_resumed, 6);
  EXPECT_EQ(again->outcomes.passed, 3);
  EXPECT_EQ(read_lines(options_.out_dir + "/results.jsonl").size(), 6u);

  // A run killed mid-write: three complete records and half of a fourth.
  std::vector<std::string> lines = read_lines(options_.out_dir + "/results.jsonl");
  write_file(options_.out_dir + "/results.jsonl",
             lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n" + lines[3].substr(0, 20));
  Result<EvalSummary> resumed = score_file(tmp_ / "samples.jsonl");
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  EXPECT_EQ(resumed->samples_resumed, 3);
  EXPECT_EQ(resumed->samples, 6);
  EXPECT_EQ(resumed->outcomes.passed, 3);
  std::vector<std::string> after = read_lines(options_.out_dir + "/results.jsonl");
  ASSERT_EQ(after.size(), 6u);
  for (const std::string& line : after) EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << line;
}

TEST_F(Scoring, AnOutputDirectoryOfAnotherSamplesFileIsRefused) {
  write_file(tmp_ / "a.jsonl", samples_jsonl());
  ASSERT_TRUE(score_file(tmp_ / "a.jsonl").ok());
  write_file(tmp_ / "b.jsonl", json{{"task_id", "HumanEval/0"}, {"completion", "    return 1\n"}}.dump() + "\n");
  Result<EvalSummary> s = score_file(tmp_ / "b.jsonl");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("belongs to another samples file"), std::string::npos);
}

TEST_F(Scoring, BadLinesAreReportedWithLineNumbersAndTheRunGoesOn) {
  std::string nul_completion = json{{"task_id", "HumanEval/3"}, {"completion", std::string("    x = 1\0\n", 11)}}.dump();
  ASSERT_NE(nul_completion.find("\\u0000"), std::string::npos);
  write_file(tmp_ / "samples.jsonl",
             json{{"task_id", "HumanEval/0"}, {"completion", canonical(0)}}.dump() + "\n" +  // 1 good
                 "{\"task_id\": \"HumanEval/1\", \"completion\": \n" +                      // 2 malformed
                 json{{"task_id", "HumanEval/999"}, {"completion", "x"}}.dump() + "\n" +     // 3 unknown
                 json{{"task_id", "HumanEval/1"}, {"completion", 5}}.dump() + "\n" +         // 4 not a string
                 json{{"completion", "x"}}.dump() + "\n" +                                   // 5 no task_id
                 "\"just a string\"\n" +                                                     // 6 not an object
                 nul_completion + "\n" +                                                     // 7 NUL byte
                 "{\"task_id\": \"HumanEval/2\", \"completion\": \"\xff\xfe\"}\n");          // 8 invalid UTF-8
  Result<EvalSummary> s = score_file(tmp_ / "samples.jsonl");
  ASSERT_TRUE(s.ok()) << s.status().message();
  const std::string path = tmp_ / "samples.jsonl";
  std::vector<std::string> expected = {
      path + ":2: not a valid JSON object; skipped", path + ":3: unknown task_id \"HumanEval/999\"; skipped",
      path + ":4: no string \"completion\"; skipped", path + ":5: no task_id; skipped",
      path + ":6: not a valid JSON object; skipped", path + ":8: not a valid JSON object; skipped"};
  EXPECT_EQ(s->problems, expected);
  EXPECT_EQ(s->samples, 2);
  EXPECT_EQ(s->outcomes.passed, 1);
  EXPECT_EQ(s->outcomes.failed, 1);  // the NUL byte: a Python error, scored, not a crash
  EXPECT_NE(read_file(options_.out_dir + "/report.md").find(":3: unknown task_id"), std::string::npos);
}

TEST_F(Scoring, MbppSamplesOutsideTheSplitAreReported) {
  Result<Dataset> d = load_dataset(Benchmark::kMbpp, mbpp_path());
  ASSERT_TRUE(d.ok());
  std::vector<const Task*> test = select_split(d.value(), "test").value();
  write_file(tmp_ / "mbpp.jsonl", json{{"task_id", 11}, {"completion", d->find_number(11)->code}}.dump() + "\n" +
                                      json{{"task_id", "Mbpp/12"}, {"completion", "pass"}}.dump() + "\n" +
                                      json{{"task_id", 2}, {"completion", "pass"}}.dump() + "\n");
  Result<SamplesFile> f = read_samples(tmp_ / "mbpp.jsonl", d.value(), test);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->samples.size(), 2u);
  EXPECT_EQ(f->samples[0].task_id, "Mbpp/11");
  EXPECT_EQ(f->samples[1].task_id, "Mbpp/12");
  ASSERT_EQ(f->problems.size(), 1u);
  EXPECT_NE(f->problems[0].find(":3: task Mbpp/2 is not in the selected split"), std::string::npos);
  ScoreRequest req;
  req.dataset = &d.value();
  req.split = "test";
  req.tasks = test;
  req.samples = f->samples;
  Result<EvalSummary> s = score_samples(req, options_);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->outcomes.passed, 1);
  EXPECT_EQ(s->outcomes.failed, 1);
}

TEST_F(Scoring, HarnessErrorsAreCountedReportedAndRetried) {
  write_file(tmp_ / "samples.jsonl", samples_jsonl());
  options_.sandbox.python = "/nonexistent/python3";
  Result<EvalSummary> broken = score_file(tmp_ / "samples.jsonl");
  ASSERT_TRUE(broken.ok()) << broken.status().message();
  EXPECT_EQ(broken->outcomes.error, 6);
  EXPECT_EQ(broken->outcomes.passed, 0);
  bool caveat = false;
  for (const std::string& c : broken->caveats()) caveat |= c.find("could not be run") != std::string::npos;
  EXPECT_TRUE(caveat);

  options_.sandbox.python = SandboxOptions{}.python;
  Result<EvalSummary> fixed = score_file(tmp_ / "samples.jsonl");
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed->samples_resumed, 0);  // error records are not final
  EXPECT_EQ(fixed->outcomes.error, 0);
  EXPECT_EQ(fixed->outcomes.passed, 3);
}

TEST(ReportKinds, FailureKindNamesTheException) {
  EXPECT_EQ(failure_kind("passed"), "passed");
  EXPECT_EQ(failure_kind("timed out"), "timed out");
  EXPECT_EQ(failure_kind("failed: AssertionError"), "AssertionError");
  EXPECT_EQ(failure_kind("failed: NameError: name 'x' is not defined"), "NameError");
  EXPECT_EQ(failure_kind("failed: exited with status 0 before the tests completed"), "exited early (status 0)");
  EXPECT_EQ(failure_kind("failed: killed by signal SIGKILL"), "killed by SIGKILL");
  EXPECT_EQ(failure_kind("failed:   File \"x\", line 1"), "other");
  EXPECT_EQ(failure_kind("error: cannot run interpreter"), "harness error");
}

TEST(ReportKinds, GenerationSpeedIsRenderedOnlyWhenMeasured) {
  EvalSummary s;
  s.benchmark = "humaneval";
  s.split = "test";
  s.pass_at_k = {{1, 0.25}};
  EXPECT_NE(render_html({s}).find("Not measured"), std::string::npos);
  GenerationSpeed g;
  g.decoder = "self-speculative greedy";
  g.tokens_per_second = 120.5;
  g.acceptance_per_head = {0.8, 0.6, std::nan("")};
  g.tokens = 1000;
  g.seconds = 8.3;
  SpeedupMeasurement m;
  m.prompts = 10;
  m.reference_decoder = "next-token greedy";
  m.fast_tokens_per_second = 126;
  m.reference_tokens_per_second = 60;
  m.identical = true;
  g.speedup = m;
  s.generation = g;
  std::string html = render_html({s});
  EXPECT_EQ(html.find("Not measured"), std::string::npos);
  EXPECT_NE(html.find("head 4"), std::string::npos);
  EXPECT_NE(html.find("no drafts"), std::string::npos);
  EXPECT_NE(html.find("120.5"), std::string::npos);
  std::string md = render_markdown({s});
  EXPECT_NE(md.find("| speculative speedup | 2.10x: 126.0 against 60.0 tokens/s (next-token greedy) on the first 10 "
                    "prompts |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| outputs identical | yes |"), std::string::npos) << md;
  nlohmann::json j = to_json(s)["generation"];
  EXPECT_EQ(j["tokens_per_second"].get<double>(), 120.5);
  EXPECT_DOUBLE_EQ(j["speculative_speedup"].get<double>(), 2.1);
  EXPECT_TRUE(j["acceptance_per_head"][2].is_null());
  EXPECT_TRUE(s.caveats().empty() || s.caveats()[0].find("network") != std::string::npos);
  s.generation->speedup->identical = false;
  s.generation->errors = 2;
  std::string caveats = nlohmann::json(s.caveats()).dump();
  EXPECT_NE(caveats.find("outputs differed"), std::string::npos) << caveats;
  EXPECT_NE(caveats.find("2 samples could not be generated"), std::string::npos) << caveats;
}

}  // namespace
}  // namespace mtpc::eval
