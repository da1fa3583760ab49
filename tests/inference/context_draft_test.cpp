// Context drafting (prompt lookup): the match rule, the drafter's choice
// between context drafts and head drafts, what it learns from the tokens
// that followed, and outputs identical to next-token greedy.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "inference/context_lookup.h"
#include "inference/drafter.h"
#include "inference/engine.h"
#include "inference/test_models.h"

namespace mtpc {
namespace {

ContextMatch match(const std::vector<int32_t>& t, int min_match = 2, int max_match = 16, int max_draft = 8,
                   int64_t window = 8192) {
  return find_context_match(t.data(), static_cast<int64_t>(t.size()), min_match, max_match, max_draft, window);
}

TEST(FindContextMatch, TakesWhatFollowedTheLongestEarlierOccurrence) {
  // "a b" ends the sequence and occurred at 0..1, followed by c x.
  auto m = match({1, 2, 3, 9, 1, 2});
  EXPECT_EQ(m.length, 2);
  EXPECT_EQ(m.continuation, (std::vector<int32_t>{3, 9, 1, 2})) << "up to the end of what is known";
  // A longer match further back beats a shorter recent one: "z b c" at 0..2
  // (followed by 7) against "b c" at 5..6 (followed by 8).
  m = match({5, 2, 3, 7, 4, 2, 3, 8, 5, 2, 3});
  EXPECT_EQ(m.length, 3);
  EXPECT_EQ(m.continuation.front(), 7);
  // Equally long: the most recent.
  m = match({2, 3, 7, 2, 3, 8, 2, 3});
  EXPECT_EQ(m.length, 2);
  EXPECT_EQ(m.continuation.front(), 8);
}

TEST(FindContextMatch, LimitsAndNoMatch) {
  EXPECT_EQ(match({}).length, 0);
  EXPECT_EQ(match({4}).length, 0);
  // Only the last token repeats: shorter than min_match.
  auto m = match({1, 2, 3, 4, 5, 3});
  EXPECT_EQ(m.length, 0);
  EXPECT_TRUE(m.continuation.empty());
  EXPECT_EQ(match({1, 2, 3, 4, 5, 3}, 1).continuation, (std::vector<int32_t>{4, 5, 3}));
  // max_draft caps the continuation; max_match caps the counted length.
  std::vector<int32_t> run(40, 6);  // one token repeated: matches everywhere
  m = match(run, 2, 5, 3);
  EXPECT_EQ(m.length, 5);
  EXPECT_EQ(m.continuation, (std::vector<int32_t>{6})) << "the most recent full-length match is one back";
  // The window: an occurrence further back than it is not seen.
  std::vector<int32_t> far = {1, 2, 3};
  for (int i = 0; i < 50; ++i) far.push_back(100 + i);
  far.push_back(1);
  far.push_back(2);
  EXPECT_EQ(match(far, 2, 16, 8, 1000).length, 2);
  EXPECT_EQ(match(far, 2, 16, 8, 10).length, 0);
  EXPECT_EQ(match({1, 2, 1, 2}, 0).length, 0) << "nonsense limits: no match";
}

GenerationRequest speculative() {
  GenerationRequest r;
  r.mode = DecodeMode::kSpeculative;
  r.adaptive_draft = true;
  return r;
}

std::shared_ptr<StepCostModel> context_costs() {
  // A context draft costs 5% of a plain step.
  std::vector<double> c;
  for (int k = 0; k <= kContextMaxDraft; ++k) c.push_back(1.0 + 0.05 * k);
  return std::make_shared<StepCostModel>(c);
}

// Logits whose argmax at row j is want[j].
torch::Tensor logits_for(const std::vector<int32_t>& want, int vocab = 16) {
  auto l = torch::zeros({static_cast<int64_t>(want.size()), vocab});
  for (size_t j = 0; j < want.size(); ++j) l[j][want[j]] = 1.0;
  return l;
}

TEST(ContextDrafting, OnlyForGreedySpeculativeCostAwareRequests) {
  auto costs = context_costs();
  EXPECT_TRUE(Drafter(speculative(), 0, 0.3, nullptr, costs).context_drafting()) << "no heads: context only";
  GenerationRequest r = speculative();
  r.context_draft = false;
  EXPECT_FALSE(Drafter(r, 0, 0.3, nullptr, costs).context_drafting());
  r = speculative();
  r.mode = DecodeMode::kGreedy;
  EXPECT_FALSE(Drafter(r, 0, 0.3, nullptr, costs).context_drafting());
  r = speculative();
  r.mode = DecodeMode::kSampling;
  r.draft_length = 2;
  EXPECT_FALSE(Drafter(r, 3, 0.3, nullptr, costs).context_drafting()) << "sampled streams depend on the drafts";
  r = speculative();
  r.adaptive_draft = false;
  EXPECT_FALSE(Drafter(r, 0, 0.3, nullptr, costs).context_drafting()) << "a fixed k stays the heads'";
  EXPECT_FALSE(Drafter(speculative(), 3, 0.3, nullptr, costs).context_drafting())
      << "heads without step costs: nothing to weigh the context against";
  EXPECT_FALSE(Drafter(speculative(), 0, 0.3, nullptr, nullptr).context_drafting());
}

TEST(ContextDrafting, DraftsFromTheContextWhileItIsRightAndStopsWhenItIsNot) {
  Drafter d(speculative(), 0, 0.3, nullptr, context_costs());
  GenerationStats stats;
  // The sequence so far repeats 1 2 3 4 5; the pending token is 2.
  std::vector<int32_t> history = {1, 2, 3, 4, 5, 1, 2};
  d.plan(history);
  ASSERT_TRUE(d.drafts_from_context());
  EXPECT_EQ(d.draft_length(), 0) << "no head runs for this step";
  EXPECT_EQ(d.drafts(), (std::vector<int32_t>{3, 4, 5, 1, 2})) << "estimates start at 1: everything known";
  // Head 1 agrees with the first three drafts, then says 9.
  auto v = d.verify(logits_for({3, 4, 5, 9, 9, 9}), 5, stats);
  EXPECT_EQ(v.accepted, 3);
  EXPECT_EQ(v.next, 9);
  EXPECT_EQ(stats.context_proposed, 5);
  EXPECT_EQ(stats.context_accepted, 3);
  EXPECT_TRUE(stats.proposed.empty()) << "the heads' counters are not touched";

  // From now on the context is always wrong: after each pending token the
  // true next token is one never seen before (head 1's argmax), while the
  // context proposes what it saw. The estimates fall and context drafting
  // stops.
  int drafted = 0, last_drafted_step = -1;
  for (int step = 0; step < 60; ++step) {
    const int32_t fresh = 100 + step;
    history.insert(history.end(), {4, 5, 1, 2});
    d.clear_drafts();
    d.plan(history);
    if (d.drafts_from_context()) {
      ++drafted;
      last_drafted_step = step;
      std::vector<int32_t> head1(d.drafts().size() + 1, fresh);
      v = d.verify(logits_for(head1, 256), static_cast<int>(d.drafts().size()), stats);
      EXPECT_EQ(v.accepted, 0);
    }
    history.push_back(fresh);
  }
  EXPECT_GT(drafted, 0);
  EXPECT_LT(last_drafted_step, 40) << "always-wrong context drafts must stop being fed";
}

TEST(ContextDrafting, LearnsFromProposalsThatWereNotFed) {
  // Heads that look better than the context at first: the context's
  // proposals are judged against the tokens that follow anyway.
  auto heads = std::make_shared<StepCostModel>(std::vector<double>{1.0, 1.01, 1.02, 1.03});
  auto ctx = context_costs();
  Drafter d(speculative(), 3, 0.3, heads, ctx);
  std::vector<int32_t> history = {7, 8, 1, 7, 8};
  d.plan(history);
  EXPECT_FALSE(d.drafts_from_context()) << "4 tokens for 1.03 beat the context's 3 drafts: 4 for 1.15";
  EXPECT_EQ(d.draft_length(), 3);
  // The token that followed was not the context's 1 but 4: the shared
  // acceptance of context position 0 drops without a draft ever being fed.
  const double before = ctx->acceptance()[0];
  history.push_back(4);
  d.plan(history);
  EXPECT_LT(ctx->acceptance()[0], before);
}

TEST(ContextDrafting, OutputsStayIdenticalToGreedy) {
  // With heads (MLP and transformer) and with none, on prompts that repeat
  // and prompts that do not, and in a batch.
  std::mt19937 rng(5);
  for (int n_future : {1, 4}) {
    for (HeadKind kind : {HeadKind::kMlp, HeadKind::kTransformer}) {
      if (n_future == 1 && kind == HeadKind::kTransformer) continue;
      testing::TempDir dir;
      auto engine = testing::make_engine(dir, kind, /*train_steps=*/0, n_future);
      ASSERT_EQ(engine->context_step_costs().size(), static_cast<size_t>(kContextMaxDraft + 1));
      int64_t context_fed = 0;
      for (int p = 0; p < 6; ++p) {
        std::vector<int32_t> prompt = testing::random_prompt(rng);
        if (p % 2 == 0)  // repeat it: the context has matches from the start
          prompt.insert(prompt.end(), prompt.begin(), prompt.end());
        GenerationRequest r = testing::fixed_length_request(prompt, 48);
        const GenerationResult greedy = testing::generate_alone(*engine, r);
        r.mode = DecodeMode::kSpeculative;
        const GenerationResult fast = testing::generate_alone(*engine, r);
        ASSERT_EQ(greedy.tokens.size(), 48u);
        EXPECT_EQ(fast.tokens, greedy.tokens) << "n_future " << n_future << " prompt " << p;
        EXPECT_LE(fast.stats.context_accepted, fast.stats.context_proposed);
        context_fed += fast.stats.context_proposed;
        // The same request twice in one batch.
        auto s3 = engine->new_session(), s4 = engine->new_session();
        ASSERT_TRUE(s3.ok() && s4.ok());
        auto batch = engine->generate_batch({&*s3, &*s4}, {r, r});
        ASSERT_TRUE(batch.ok()) << batch.status().message();
        for (auto& one : *batch) {
          ASSERT_TRUE(one.ok()) << one.status().message();
          EXPECT_EQ(one->tokens, greedy.tokens) << "batched, n_future " << n_future << " prompt " << p;
        }
      }
      // Random weights loop on what they produced: the context repeats.
      EXPECT_GT(context_fed, 0) << "n_future " << n_future << ": no context draft was ever fed";
    }
  }
}

TEST(ContextDrafting, SwitchedOffInTheEngine) {
  testing::TempDir dir;
  auto engine = testing::make_engine(dir, HeadKind::kMlp, 0, 4);
  EngineOptions off = testing::test_engine_options();
  off.context_drafts = false;
  auto plain = Engine::load(dir.path(), off);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_TRUE((*plain)->context_step_costs().empty());
  EXPECT_FALSE((*plain)->draft_step_costs().empty()) << "the heads' costs stay";
  const GenerationResult out =
      testing::generate_alone(**plain, testing::fixed_length_request({1, 2, 3, 1, 2, 3, 1, 2}, 32, DecodeMode::kSpeculative));
  EXPECT_EQ(out.tokens.size(), 32u);
  EXPECT_EQ(out.stats.context_proposed, 0);
}

}  // namespace
}  // namespace mtpc
