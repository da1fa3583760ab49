// run_decode_benchmark (mtpc bench decode) called as a library on a small
// model: outputs identical across decoders and batch sizes, counts that add
// up. No timing is asserted.
#include "inference/decode_benchmark.h"

#include <gtest/gtest.h>

#include "inference/context_lookup.h"
#include "model/network/linear_kernel.h"
#include "test_models.h"

namespace mtpc {
namespace {

using testing::TempDir;

int64_t sum(const nlohmann::json& counts) {
  int64_t s = 0;
  for (const auto& c : counts) s += c.get<int64_t>();
  return s;
}

TEST(DecodeBenchmark, SpeculativeAndBatchedRunsGiveGreedysTokensAndCountsAddUp) {
  TempDir dir;
  // Briefly trained, so that some drafts are accepted and some are not.
  testing::make_engine(dir, HeadKind::kTransformer, /*train_steps=*/30);
  testing::write_file(dir / "prompts.jsonl",
                      "{\"prompt\": \"def f(x):\\n\"}\n\n{\"prompt\": \"def f(x):\\n    return x\"}\n"
                      "{\"prompt\": \"#\"}\n{\"prompt\": \"not read: --limit 3\"}\n");
  DecodeBenchmarkOptions o;
  o.model = dir.path();
  o.prompts = dir / "prompts.jsonl";
  o.limit = 3;
  o.max_new_tokens = 12;
  o.batch = 2;
  o.warmup = 0;
  o.device = testing::test_engine_options().device;
  o.dtype = testing::test_engine_options().dtype;
  int progress_calls = 0;
  o.progress = [&](const std::string&) { ++progress_calls; };
  Result<nlohmann::json> r = run_decode_benchmark(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const nlohmann::json& j = *r;

  EXPECT_TRUE(j["identical"].get<bool>()) << j.dump(2);
  EXPECT_EQ(j["prompts"], 3);
  EXPECT_GT(progress_calls, 0);
  // greedy, speculative (adaptive, cost-aware, context drafts), the
  // adaptive rule without the step costs, and the heads without context
  // drafts beside it.
  ASSERT_EQ(j["runs"].size(), 4u);
  const nlohmann::json& greedy = j["runs"][0];
  const nlohmann::json& cost_aware = j["runs"][1];
  const nlohmann::json& spec = j["runs"][2];
  EXPECT_EQ(greedy["decoder"], "greedy");
  EXPECT_EQ(cost_aware["decoder"], "speculative");
  EXPECT_EQ(spec["decoder"], "speculative_acceptance_only");
  EXPECT_TRUE(cost_aware["identical"].get<bool>());
  EXPECT_TRUE(spec["identical"].get<bool>());
  EXPECT_EQ(j["runs"][3]["decoder"], "speculative_heads_only");
  EXPECT_TRUE(j["runs"][3]["identical"].get<bool>());
  EXPECT_EQ(j["runs"][3]["context_drafts_proposed"], 0);
  EXPECT_EQ(spec["context_drafts_proposed"], 0) << "the acceptance-only rule drafts from the heads";
  EXPECT_LE(cost_aware["context_drafts_accepted"].get<int64_t>(), cost_aware["context_drafts_proposed"].get<int64_t>());
  ASSERT_EQ(j["context_step_costs"].size(), static_cast<size_t>(kContextMaxDraft + 1));
  EXPECT_DOUBLE_EQ(j["context_step_costs"][0].get<double>(), 1.0);
  ASSERT_EQ(j["draft_step_costs"].size(), 4u);
  EXPECT_DOUBLE_EQ(j["draft_step_costs"][0].get<double>(), 1.0);
  EXPECT_LE(cost_aware["forward_passes"].get<int64_t>(), greedy["forward_passes"].get<int64_t>());
  for (const nlohmann::json& run : j["runs"]) {
    // Every prompt decodes exactly max_new_tokens (EOS does not stop it).
    EXPECT_EQ(run["tokens"], 3 * 12) << run.dump();
    EXPECT_DOUBLE_EQ(run["tokens_per_forward"].get<double>(),
                     run["tokens"].get<double>() / run["forward_passes"].get<double>());
    // Fresh sessions: every prompt token is computed, none reused.
    EXPECT_EQ(run["reused_tokens"], 0);
    EXPECT_EQ(run["prefill_tokens"], greedy["prefill_tokens"]);
    EXPECT_EQ(run["prompt_tokens_computed"], run["prefill_tokens"]);
    EXPECT_GT(run["prefill_tokens"].get<int64_t>(), 3);
  }
  // Greedy drafts nothing: one token per pass, no acceptance to report.
  EXPECT_GE(greedy["forward_passes"].get<int64_t>(), 3 * 12);
  for (const auto& a : greedy["acceptance_per_head"]) EXPECT_TRUE(a.is_null());
  // Speculative: the verified token plus the accepted drafts of each pass
  // make at least the tokens emitted (drafts past max_new_tokens are cut).
  const auto& acceptance = spec["acceptance_per_head"];
  ASSERT_EQ(acceptance.size(), 3u);  // n_future 4: heads 2..4 draft
  EXPECT_TRUE(acceptance[0].is_number());
  for (const auto& a : acceptance)
    if (!a.is_null()) EXPECT_TRUE(a.get<double>() >= 0 && a.get<double>() <= 1) << a;
  EXPECT_LT(spec["forward_passes"].get<int64_t>(), greedy["forward_passes"].get<int64_t>());
  // Per-prompt ratios on every speculative run; the worst is their minimum,
  // and the top level repeats the first speculative run's.
  EXPECT_FALSE(greedy.contains("prompt_ratios"));
  for (size_t r = 1; r < j["runs"].size(); ++r) {
    const nlohmann::json& run = j["runs"][r];
    ASSERT_EQ(run["prompt_ratios"].size(), 3u) << run.dump();
    double lowest = 1e300;
    for (const auto& ratio : run["prompt_ratios"]) {
      EXPECT_GT(ratio.get<double>(), 0);
      lowest = std::min(lowest, ratio.get<double>());
    }
    EXPECT_DOUBLE_EQ(run["worst_prompt_ratio"].get<double>(), lowest);
    const int worst = run["worst_prompt"].get<int>();
    ASSERT_TRUE(worst >= 0 && worst < 3);
    EXPECT_DOUBLE_EQ(run["prompt_ratios"][worst].get<double>(), lowest);
  }
  EXPECT_EQ(j["worst_prompt_ratio"], cost_aware["worst_prompt_ratio"]);

  ASSERT_TRUE(j.contains("batch"));
  EXPECT_EQ(j["batch"]["size"], 2);
  ASSERT_EQ(j["batch"]["runs"].size(), 4u);
  for (const nlohmann::json& run : j["batch"]["runs"]) {
    EXPECT_TRUE(run["identical_to_batch1"].get<bool>());
    EXPECT_EQ(run["tokens"], 3 * 12);
  }
  EXPECT_TRUE(j["batch_ratio"].contains("greedy"));
  EXPECT_TRUE(j["machine"]["cores"].is_number());
}

TEST(DecodeBenchmark, ReportsLoadTimeMemoryAndPassCostPerRowCount) {
  TempDir dir;
  testing::make_engine(dir, HeadKind::kTransformer);
  testing::write_file(dir / "prompts.jsonl", "{\"prompt\": \"x = 1\"}\n");
  DecodeBenchmarkOptions o;
  o.model = dir.path();
  o.prompts = dir / "prompts.jsonl";
  o.max_new_tokens = 4;
  o.warmup = 0;
  o.pass_cost_rows = 4;
  o.pass_cost_context = 16;
  o.pass_cost_repeats = 2;
  Result<nlohmann::json> r = run_decode_benchmark(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const nlohmann::json& j = *r;
  EXPECT_GT(j["load_seconds"].get<double>(), 0);
  EXPECT_GT(j["memory"]["rss_mib_after_load"].get<double>(), 0);
  EXPECT_GE(j["memory"]["peak_rss_mib"].get<double>(), j["memory"]["rss_mib_after_load"].get<double>());
  const nlohmann::json& pc = j["pass_cost"];
  ASSERT_EQ(pc["ms"].size(), 4u) << pc.dump();
  ASSERT_EQ(pc["ratio_to_one_row"].size(), 4u);
  EXPECT_DOUBLE_EQ(pc["ratio_to_one_row"][0].get<double>(), 1.0);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_GT(pc["ms"][i].get<double>(), 0);
    EXPECT_DOUBLE_EQ(pc["ratio_to_one_row"][i].get<double>(),
                     pc["ms"][i].get<double>() / pc["ms"][0].get<double>());
  }
  EXPECT_EQ(pc["context"], 16);
  // What ran: a transformer-head model has no MLP draft heads to quantise.
  EXPECT_EQ(j["draft_heads"], "");
  const std::string kernel = j["linear_kernel"];
  EXPECT_TRUE(kernel == "avx512" || kernel == "avx2" || kernel == "torch") << kernel;
}

TEST(EnginePassCost, RefusesAPassBeyondTheContextAndBadCounts) {
  TempDir dir;
  auto engine = testing::make_engine(dir, HeadKind::kMlp);
  const int max_seq = engine->config().max_seq_len;
  auto beyond = engine->measure_pass_costs(4, max_seq - 2, 1);
  ASSERT_FALSE(beyond.ok());
  EXPECT_NE(beyond.status().message().find("max_seq_len"), std::string::npos) << beyond.status().message();
  EXPECT_FALSE(engine->measure_pass_costs(0, 8, 1).ok());
  EXPECT_FALSE(engine->measure_pass_costs(2, 8, 0).ok());
  // An MLP-head model keeps no head cache: the pass is the trunk and head 1.
  auto costs = engine->measure_pass_costs(3, max_seq - 3, 1);
  ASSERT_TRUE(costs.ok()) << costs.status().message();
  EXPECT_EQ(costs->size(), 3u);
  // Its draft heads read int8 weights where the CPU kernel runs (CPU fp32).
  const bool int8 = testing::test_engine_options().device == "cpu" && testing::test_engine_options().dtype == "fp32" &&
                    linear_kernel_available();
  EXPECT_EQ(engine->draft_heads(), int8 ? "int8" : "exact");
  TempDir other;
  EngineOptions exact = testing::test_engine_options();
  exact.int8_draft_heads = false;
  testing::make_engine(other, HeadKind::kMlp);
  auto plain = Engine::load(other.path(), exact);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ((*plain)->draft_heads(), "exact");
}

TEST(DecodeBenchmark, ABadPromptsFileIsAnErrorNamingTheLine) {
  TempDir dir;
  testing::write_file(dir / "bad.jsonl", "{\"prompt\": \"ok\"}\n{\"text\": 3}\n");
  DecodeBenchmarkOptions o;
  o.model = dir / "no-model";  // not reached: the prompts are read first
  o.prompts = dir / "bad.jsonl";
  Result<nlohmann::json> r = run_decode_benchmark(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad.jsonl:2"), std::string::npos) << r.status().message();

  testing::write_file(dir / "empty.jsonl", "\n");
  o.prompts = dir / "empty.jsonl";
  r = run_decode_benchmark(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no prompts"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace mtpc
