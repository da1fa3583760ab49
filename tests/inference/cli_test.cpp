// mtpc complete and mtpc bench decode through the real binary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/datasets.h"
#include "common/fixture_model.h"
#include "common/test_util.h"

namespace mtpc {
namespace {

using mtpc::testing::CommandResult;
using mtpc::testing::run_command;
using mtpc::testing::TempDir;
using mtpc::testing::write_file;

const std::string kBinary = MTPC_BINARY;

std::string random_checkpoint(const TempDir& dir) {
  mtpc::testing::FixtureModel o;
  o.size = mtpc::testing::FixtureModel::Size::kMicro;
  o.n_future = 3;
  o.max_seq_len = 0;
  o.seed = 4;
  EXPECT_TRUE(mtpc::testing::write_fixture_model(dir / "model", o).ok());
  return dir / "model";
}

TEST(CompleteCommand, PrintsACompletionAndItsStatistics) {
  TempDir dir;
  std::filesystem::create_directories(dir / "model");
  const std::string model = random_checkpoint(dir);
  write_file(dir / "prompt.py", "def add(a, b):\n    ");
  CommandResult r = run_command("'" + kBinary + "' complete --model '" + model + "' --prompt-file '" +
                                (dir / "prompt.py") + "' --max-new-tokens 12 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["tokens"], 12);
  EXPECT_EQ(j["stop"], "max_tokens");
  EXPECT_GE(j["tokens_per_forward"].get<double>(), 1.0);
  EXPECT_EQ(j["acceptance_per_head"].size(), 2u);
  EXPECT_TRUE(j["completion"].is_string());

  r = run_command("'" + kBinary + "' complete --model '" + (dir / "missing") + "' --prompt x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("missing"), std::string::npos) << r.output;
}

TEST(BenchDecode, ReportsSpeedupAndIdenticalOutputs) {
  TempDir dir;
  std::filesystem::create_directories(dir / "model");
  const std::string model = random_checkpoint(dir);
  write_file(dir / "prompts.jsonl", "{\"prompt\": \"import os\\n\"}\n{\"prompt\": \"def f(x):\\n\"}\n");
  CommandResult r = run_command("'" + kBinary + "' bench decode --model '" + model + "' --prompts '" +
                                (dir / "prompts.jsonl") + "' --max-new-tokens 16 --k 1 --k 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find("{\n")));
  EXPECT_TRUE(j["identical"].get<bool>());
  ASSERT_EQ(j["runs"].size(), 3u);
  EXPECT_EQ(j["runs"][0]["tokens"], 32);
  EXPECT_TRUE(j["speedup"].is_number());

  write_file(dir / "bad.jsonl", "{\"prompt\": \"ok\"}\n{\"text\": 3}\n");
  r = run_command("'" + kBinary + "' bench decode --model '" + model + "' --prompts '" + (dir / "bad.jsonl") + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("bad.jsonl:2"), std::string::npos) << r.output;
}

TEST(BenchDecode, BatchedRunsMatchBatchOneAndReportTheRatio) {
  TempDir dir;
  std::filesystem::create_directories(dir / "model");
  const std::string model = random_checkpoint(dir);
  write_file(dir / "prompts.jsonl",
             "{\"prompt\": \"import os\\n\"}\n{\"prompt\": \"def f(x):\\n    return\"}\n{\"prompt\": \"#\"}\n");
  CommandResult r = run_command("'" + kBinary + "' bench decode --model '" + model + "' --prompts '" +
                                (dir / "prompts.jsonl") + "' --max-new-tokens 12 --batch 2 --warmup 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find("{\n")));
  EXPECT_TRUE(j["identical"].get<bool>());
  EXPECT_EQ(j["batch"]["size"], 2);
  // greedy, speculative, speculative_acceptance_only, speculative_heads_only
  ASSERT_EQ(j["batch"]["runs"].size(), 4u);
  for (const auto& run : j["batch"]["runs"]) {
    EXPECT_EQ(run["tokens"], 36);
    EXPECT_TRUE(run["identical_to_batch1"].get<bool>());
    EXPECT_GT(run["tokens_per_s"].get<double>(), 0);
  }
  EXPECT_TRUE(j["batch_ratio"]["greedy"].is_number());
  EXPECT_TRUE(j["batch_ratio"]["speculative"].is_number());
  EXPECT_TRUE(j["machine"]["cpu"].is_string());
  EXPECT_GE(j["machine"]["cores"].get<int>(), 1);
  EXPECT_GE(j["machine"]["threads"].get<int>(), 1);
  // Prefill is timed apart from decoding.
  EXPECT_TRUE(j["runs"][0]["prefill_seconds"].is_number());
}

TEST(BenchDecode, CudaOnACpuOnlyBuildIsAClearError) {
  TempDir dir;
  std::filesystem::create_directories(dir / "model");
  const std::string model = random_checkpoint(dir);
  write_file(dir / "prompts.jsonl", "{\"prompt\": \"x\"}\n");
  CommandResult r = run_command("'" + kBinary + "' --device cuda bench decode --model '" + model + "' --prompts '" +
                                (dir / "prompts.jsonl") + "' --max-new-tokens 4");
  if (r.exit_code == 0) GTEST_SKIP() << "this LibTorch has a usable CUDA device";
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--device cuda"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("CUDA"), std::string::npos) << r.output;
}

TEST(BenchDecode, RunsOnTheHumanEvalPromptsFile) {
  TempDir dir;
  std::filesystem::create_directories(dir / "model");
  const std::string model = random_checkpoint(dir);
  CommandResult r = run_command("'" + kBinary + "' bench decode --model '" + model + "' --prompts '" +
                                mtpc::testing::humaneval_path() + "' --limit 3 --max-new-tokens 8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find("{\n")));
  EXPECT_EQ(j["prompts"], 3);
  EXPECT_TRUE(j["identical"].get<bool>());
}

}  // namespace
}  // namespace mtpc
