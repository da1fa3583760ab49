// Cost-aware adaptive drafting: the draft length with the most expected
// tokens per unit of time, 0 (no drafts) included, from the acceptance
// estimates and the measured cost of a step with k drafts; outputs stay
// identical to next-token greedy whatever k it picks.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "inference/drafter.h"
#include "inference/engine.h"
#include "inference/test_models.h"

namespace mtpc {
namespace {

TEST(CostAwareDraftLength, WeighsExpectedTokensAgainstStepCost) {
  // Cheap drafts, heads that accept: draft them all.
  EXPECT_EQ(cost_aware_draft_length({0.9, 0.9, 0.9}, {1.0, 1.05, 1.1, 1.15}, 3), 3);
  // Heads that never accept: no drafts, whatever they cost.
  EXPECT_EQ(cost_aware_draft_length({0.0, 0.0, 0.0}, {1.0, 1.01, 1.02, 1.03}, 3), 0);
  // Head 2 accepts 30% and a step with one draft costs 1.4 (the shipped
  // model's numbers): 1.3 / 1.4 < 1, so no drafts.
  EXPECT_EQ(cost_aware_draft_length({0.3, 0.3, 0.3}, {1.0, 1.4, 1.8, 2.2}, 3), 0);
  // The same acceptance with cheap drafts: 1.3 / 1.05 > 1 for k = 1, and
  // k = 2 adds 0.09 expected tokens for 0.05 more cost: 1.39 / 1.10.
  EXPECT_EQ(cost_aware_draft_length({0.3, 0.3, 0.3}, {1.0, 1.05, 1.10, 1.40}, 3), 2);
  // Acceptance that drops off after head 2: stop where the rate peaks.
  EXPECT_EQ(cost_aware_draft_length({0.8, 0.1, 0.9}, {1.0, 1.2, 1.4, 1.6}, 3), 1);
  // Ties go to the shorter draft.
  EXPECT_EQ(cost_aware_draft_length({1.0}, {1.0, 2.0}, 1), 0);
  // A rate to beat other than a plain step's (the heads' plan, for context
  // drafts): a k > 0 must beat it, else 0.
  EXPECT_EQ(cost_aware_draft_length({0.9, 0.9, 0.9}, {1.0, 1.05, 1.1, 1.15}, 3, 10.0), 0);
  EXPECT_EQ(cost_aware_draft_length({0.9, 0.9, 0.9}, {1.0, 1.05, 1.1, 1.15}, 3, 2.0), 3);
  EXPECT_EQ(cost_aware_draft_length({0.5, 0.0}, {1.0, 1.05, 1.1}, 2, 0.5), 1) << "below a plain step's rate";
  // max_draft caps the choice.
  EXPECT_EQ(cost_aware_draft_length({1.0, 1.0, 1.0}, {1.0, 1.0, 1.0, 1.0}, 1), 1);
}

TEST(StepCostModel, LearnsFromTheStepsDecodedAndPricesTheRestByCalibration) {
  StepCostModel m({1.0, 1.2, 1.4});
  EXPECT_EQ(m.relative(), (std::vector<double>{1.0, 1.2, 1.4})) << "nothing seen: the calibration";
  // Steps with one draft take 3 ms: a plain step is inferred at 3 / 1.2.
  m.observe(1, 3.0);
  auto r = m.relative();
  EXPECT_DOUBLE_EQ(r[1], 1.2);
  EXPECT_DOUBLE_EQ(r[2], 1.4);
  // A plain step measured at 2 ms: one draft really costs 1.5x, and two
  // keep their calibrated ratio to it.
  m.observe(0, 2.0);
  r = m.relative();
  EXPECT_DOUBLE_EQ(r[0], 1.0);
  EXPECT_DOUBLE_EQ(r[1], 1.5);
  EXPECT_DOUBLE_EQ(r[2], 1.4);
  EXPECT_EQ(m.observed_without_drafts(), 1);
  // Later steps: the median of the recent ones.
  m.observe(1, 4.0);
  EXPECT_DOUBLE_EQ(m.relative()[1], 3.5 / 2.0);
  // Nonsense is ignored.
  m.observe(7, 1.0);
  m.observe(1, -1.0);
  m.observe(1, 0.0);
  EXPECT_DOUBLE_EQ(m.relative()[1], 3.5 / 2.0);
  // A step stretched tenfold by a preemption barely moves it.
  m.observe(1, 3.0);
  m.observe(1, 40.0);
  EXPECT_DOUBLE_EQ(m.relative()[1], 3.5 / 2.0);
  // Only the last kStepCostWindow steps count: the costs follow a change.
  for (int i = 0; i < kStepCostWindow; ++i) m.observe(1, 5.0);
  EXPECT_DOUBLE_EQ(m.relative()[1], 5.0 / 2.0);
}

TEST(CostAwareDrafting, ProbesWithOneDraftWhileItDraftsNothing) {
  GenerationRequest r;
  r.mode = DecodeMode::kSpeculative;
  r.adaptive_draft = true;
  // A draft costs half a plain step: only drafts that are right more than
  // half the time pay.
  Drafter d(r, 3, 0.3, std::make_shared<StepCostModel>(std::vector<double>{1.0, 1.5, 2.0, 2.5}));
  EXPECT_EQ(d.draft_length(), 3) << "estimates start at 1: 4 tokens for 2.5x the cost beats 1 for 1";
  GenerationStats stats;
  stats.proposed.assign(3, 0);
  stats.accepted.assign(3, 0);
  // Head 1's argmax is token 1 at every row; drafts of token 0 are all wrong.
  auto logits = torch::zeros({4, 5});
  logits.index_put_({torch::indexing::Slice(), 1}, 1.0);
  int steps_at_zero = 0, probes = 0;
  for (int step = 0; step < 64; ++step) {
    const int k = d.draft_length();
    if (k == 0) ++steps_at_zero;
    if (k > 0) {
      d.propose(torch::zeros({k, 5}));  // argmax 0: wrong
      if (step > 10) ++probes;
    } else {
      d.clear_drafts();
    }
    const auto v = d.verify(logits.narrow(0, 0, k + 1), k, stats);
    EXPECT_EQ(v.accepted, 0);
    EXPECT_EQ(v.next, 1);
  }
  EXPECT_GT(steps_at_zero, 40) << "drafts that are always wrong: it should stop drafting";
  EXPECT_GE(probes, 2) << "one draft every " << kDraftProbeEvery << " steps keeps the estimate current";
  EXPECT_LE(probes, 64 / kDraftProbeEvery + 1);
}

TEST(CostAwareDrafting, TheEngineMeasuresStepCostsAndStaysIdenticalToGreedy) {
  testing::TempDir dir;
  auto engine = testing::make_engine(dir, HeadKind::kTransformer, /*train_steps=*/0, /*n_future=*/4);
  const std::vector<double> cost = engine->draft_step_costs();
  ASSERT_EQ(cost.size(), 4u) << "k = 0..3 measured at load";
  EXPECT_DOUBLE_EQ(cost[0], 1.0);
  for (double c : cost) EXPECT_GT(c, 0.0);
  auto ms = engine->measure_step_costs(3, 32, 1);
  ASSERT_TRUE(ms.ok()) << ms.status().message();
  EXPECT_EQ(ms->size(), 4u);
  EXPECT_FALSE(engine->measure_step_costs(4, 32, 1).ok()) << "more drafts than heads";

  // Greedy identity: cost-aware speculative decoding gives next-token
  // greedy's tokens.
  GenerationRequest r = testing::fixed_length_request({10, 20, 30, 40, 50}, 40, DecodeMode::kGreedy);
  const GenerationResult greedy = testing::generate_alone(*engine, r);
  ASSERT_EQ(greedy.tokens.size(), 40u);
  r.mode = DecodeMode::kSpeculative;
  r.adaptive_draft = true;
  const GenerationResult fast = testing::generate_alone(*engine, r);
  EXPECT_EQ(fast.tokens, greedy.tokens);

  // Switched off: nothing measured, and the acceptance-only rule drafts.
  EngineOptions off = testing::test_engine_options();
  off.cost_aware_drafts = false;
  auto plain = Engine::load(dir.path(), off);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_TRUE((*plain)->draft_step_costs().empty());
}

}  // namespace
}  // namespace mtpc
