// `mtpc eval --model` through the real binary: generate, measure, score,
// report, resume; bad models and bad options.
#include <gtest/gtest.h>

#include <filesystem>
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

std::string eval_command(const std::string& model, const std::string& out, const std::string& extra) {
  return kBinary + " --threads 1 eval --benchmark humaneval --data " + humaneval_path() + " --model " + model +
         " --out " + out + " --max-new-tokens 16 --workers 1 --timeout 5 " + extra;
}

TEST(CliEvalGenerate, GreedyRunGeneratesScoresReportsAndResumes) {
  TempDir model, tmp;
  ASSERT_TRUE(mtpc::testing::write_generation_model(model.path()).ok());
  std::string out = tmp / "out";
  std::string cmd = eval_command(model.path(), out, "--limit 3 --speedup-sample 2");
  auto r = run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("/3 samples passed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("over 3 of 3 tasks"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3/3 tasks generated"), std::string::npos) << "no progress line: " << r.output;
  EXPECT_NE(r.output.find("ETA"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3 samples (3 generated now)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("outputs identical: yes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("caveat: only the first 3 of the split's 164 tasks were evaluated"), std::string::npos)
      << r.output;

  std::vector<std::string> lines = read_lines(out + "/samples.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(json::parse(lines[i])["task_id"], "HumanEval/" + std::to_string(i));
  EXPECT_EQ(read_lines(out + "/results.jsonl").size(), 3u);

  json summary = json::parse(read_file(out + "/summary.json"));
  EXPECT_EQ(summary["tasks_in_split"], 3);
  EXPECT_EQ(summary["samples"], 3);
  EXPECT_EQ(summary["prompt_format"], "humaneval");
  const json& g = summary["generation"];
  ASSERT_TRUE(g.is_object()) << summary.dump(2);
  EXPECT_NE(g["decoder"].get<std::string>().find("self-speculative greedy"), std::string::npos);
  EXPECT_GT(g["tokens"].get<int>(), 0);
  EXPECT_GT(g["tokens_per_second"].get<double>(), 0);
  EXPECT_GT(g["tokens_per_forward"].get<double>(), 0);
  EXPECT_EQ(g["acceptance_per_head"].size(), 3u);
  EXPECT_GT(g["speculative_speedup"].get<double>(), 0);
  EXPECT_EQ(g["speedup_measurement"]["prompts"], 2);
  EXPECT_EQ(g["speedup_measurement"]["identical"], true);
  EXPECT_EQ(g["errors"], 0);
  std::string md = read_file(out + "/report.md");
  EXPECT_NE(md.find("| tokens per forward pass |"), std::string::npos) << md;
  EXPECT_NE(md.find("| outputs identical | yes |"), std::string::npos) << md;
  EXPECT_EQ(md.find("Not measured"), std::string::npos);
  std::string html = read_file(out + "/report.html");
  EXPECT_NE(html.find("speculative speedup"), std::string::npos);
  EXPECT_NE(html.find("Draft acceptance per head"), std::string::npos);

  auto again = run_command(cmd);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("3 samples (0 generated now)"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("scored 0 in"), std::string::npos) << again.output;
  EXPECT_EQ(read_lines(out + "/samples.jsonl"), lines);

  // Other settings into the same OUT are refused, not mixed in.
  auto hotter = run_command(eval_command(model.path(), out, "--limit 3 --temperature 0.7"));
  EXPECT_EQ(hotter.exit_code, 1) << hotter.output;
  EXPECT_NE(hotter.output.find("decoding.temperature differs"), std::string::npos) << hotter.output;
}

TEST(CliEvalGenerate, SampledPassAtKAndMbppThreeShot) {
  TempDir model, tmp;
  ASSERT_TRUE(mtpc::testing::write_generation_model(model.path()).ok());
  auto r = run_command(eval_command(model.path(), tmp / "he",
                                    "--limit 2 --n 2 --temperature 0.8 --top-p 0.95 --seed 3 --speedup-sample 0"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json summary = json::parse(read_file(tmp / "he/summary.json"));
  EXPECT_EQ(summary["samples"], 4);
  EXPECT_TRUE(summary["pass_at_k"].contains("pass@1"));
  EXPECT_FALSE(summary["pass_at_k"].contains("pass@10")) << "2 samples per task support k <= 2 only";
  EXPECT_NE(summary["generation"]["decoder"].get<std::string>().find("speculative sampling, temperature 0.8"),
            std::string::npos);
  EXPECT_TRUE(summary["generation"]["speculative_speedup"].is_null());

  // MBPP's 3-shot prompt outgrows this model's 1024-token context: it is cut
  // from the left, and the report says so.
  auto mbpp = run_command(kBinary + " --threads 1 eval --benchmark mbpp --data " + mbpp_path() + " --model " +
                          model.path() + " --out " + (tmp / "mbpp") +
                          " --limit 2 --max-new-tokens 8 --speedup-sample 1 --workers 1 --timeout 5");
  ASSERT_EQ(mbpp.exit_code, 0) << mbpp.output;
  EXPECT_NE(mbpp.output.find("over 2 of 2 tasks"), std::string::npos) << mbpp.output;
  EXPECT_NE(mbpp.output.find("caveat: 2 samples had their prompt cut from the left"), std::string::npos)
      << mbpp.output;
  json m = json::parse(read_file(tmp / "mbpp/summary.json"));
  EXPECT_EQ(m["prompt_format"], "3shot");
  EXPECT_EQ(json::parse(read_lines(tmp / "mbpp/samples.jsonl")[0])["task_id"], "Mbpp/11");
}

TEST(CliEvalGenerate, BadModelsAndOptionsAreRefusedBeforeAnyWork) {
  TempDir tmp;
  std::string out = tmp / "out";
  auto missing = run_command(eval_command(tmp / "nope", out, ""));
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("no such model directory"), std::string::npos) << missing.output;
  EXPECT_FALSE(std::filesystem::exists(out)) << "nothing is written for a run that cannot start";

  std::filesystem::create_directories(tmp / "broken");
  write_file(tmp / "broken/config.json", "{\"dim\": ");
  auto broken = run_command(eval_command(tmp / "broken", out, ""));
  EXPECT_EQ(broken.exit_code, 1) << broken.output;
  EXPECT_NE(broken.output.find("config.json"), std::string::npos) << broken.output;
  EXPECT_FALSE(std::filesystem::exists(out));

  TempDir model;
  ASSERT_TRUE(mtpc::testing::write_generation_model(model.path()).ok());
  std::filesystem::create_directories(tmp / "weights");
  write_file(tmp / "weights/config.json", read_file(model / "config.json"));
  write_file(tmp / "weights/model.safetensors", "not safetensors");
  auto bad_weights = run_command(eval_command(tmp / "weights", out, ""));
  EXPECT_EQ(bad_weights.exit_code, 1) << bad_weights.output;
  EXPECT_NE(bad_weights.output.find("model.safetensors"), std::string::npos) << bad_weights.output;
  EXPECT_FALSE(std::filesystem::exists(out));

  auto n0 = run_command(eval_command(model.path(), out, "--n 0"));
  EXPECT_EQ(n0.exit_code, 2) << n0.output;
  EXPECT_NE(n0.output.find("--n must be at least 1"), std::string::npos) << n0.output;
  auto greedy_n = run_command(eval_command(model.path(), out, "--n 5"));
  EXPECT_EQ(greedy_n.exit_code, 2) << greedy_n.output;
  EXPECT_NE(greedy_n.output.find("--n 5 needs --temperature > 0"), std::string::npos) << greedy_n.output;
  auto negative = run_command(eval_command(model.path(), out, "--n 2 --temperature -1"));
  EXPECT_EQ(negative.exit_code, 2) << negative.output;
  auto big_k = run_command(eval_command(model.path(), out, "--k 9"));
  EXPECT_EQ(big_k.exit_code, 2) << big_k.output;
  EXPECT_NE(big_k.output.find("exceeds this model's n_future - 1 = 3"), std::string::npos) << big_k.output;
  EXPECT_FALSE(std::filesystem::exists(out));

  // The completion core's settings are refused, not silently ignored.
  for (const char* flag : {"--no-fim", "--max-prompt-tokens 100", "--scope line", "--deadline-ms 99", "--max-lines 2"}) {
    auto core_only = run_command(eval_command(model.path(), out, flag));
    EXPECT_EQ(core_only.exit_code, 2) << flag << ": " << core_only.output;
    EXPECT_NE(core_only.output.find("for --benchmark humaneval-infill and nextline"), std::string::npos)
        << core_only.output;
  }
  EXPECT_FALSE(std::filesystem::exists(out));

  auto without_model = run_command(kBinary + " eval --benchmark humaneval --data " + humaneval_path() +
                                   " --reference --temperature 0.5 --out " + out);
  EXPECT_NE(without_model.exit_code, 0) << without_model.output;
  EXPECT_NE(without_model.output.find("--model"), std::string::npos) << without_model.output;
  auto both = run_command(kBinary + " eval --benchmark humaneval --data " + humaneval_path() + " --reference --model " +
                          model.path() + " --out " + out);
  EXPECT_NE(both.exit_code, 0) << both.output;
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
