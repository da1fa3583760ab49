#include "inference/engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <thread>

#include "inference/session_state.h"
#include "inference/test_models.h"
#include "model/checkpoint/checkpoint.h"
#include "model/network/config.h"
#include "model/test_util.h"
#include "model/tokenizer/tokenizer.h"
#include "model/training/mtp_loss.h"

namespace mtpc {
namespace {

using mtpc::testing::TempDir;
using mtpc::testing::fixed_length_request;
using mtpc::testing::generate_alone;
using mtpc::testing::make_engine;
using mtpc::testing::random_prompt;

struct Case {
  HeadKind kind;
  int train_steps;
};

class Equivalence : public ::testing::TestWithParam<Case> {};

TEST_P(Equivalence, SpeculativeGreedyEqualsNextTokenGreedyOnRandomPrompts) {
  TempDir dir;
  auto engine = make_engine(dir, GetParam().kind, GetParam().train_steps);
  std::mt19937 rng(99);
  int64_t drafts_accepted = 0;
  for (int i = 0; i < 50; ++i) {
    GenerationRequest r = fixed_length_request(random_prompt(rng), 24, DecodeMode::kGreedy);
    auto reference = generate_alone(*engine, r);
    ASSERT_EQ(reference.tokens.size(), 24u);
    r.mode = DecodeMode::kSpeculative;
    for (int k : {1, 2, 3}) {
      for (bool adaptive : {false, true}) {
        r.draft_length = k;
        r.adaptive_draft = adaptive;
        auto fast = generate_alone(*engine, r);
        ASSERT_EQ(fast.tokens, reference.tokens) << "prompt " << i << " k=" << k << " adaptive=" << adaptive;
        EXPECT_LE(fast.stats.forward_passes, reference.stats.forward_passes);
        for (auto a : fast.stats.accepted) drafts_accepted += a;
      }
    }
  }
  if (GetParam().train_steps > 0) {
    EXPECT_GT(drafts_accepted, 1000) << "a trained model's drafts should often be accepted";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Inference, Equivalence,
    ::testing::Values(Case{HeadKind::kTransformer, 0}, Case{HeadKind::kMlp, 0},
                      Case{HeadKind::kTransformer, 150}, Case{HeadKind::kMlp, 150}),
    [](const auto& info) {
      return std::string(head_kind_name(info.param.kind)) + (info.param.train_steps ? "_trained" : "_random");
    });

TEST(Session, CacheAfterRollbacksEqualsACacheBuiltFromScratch) {
  TempDir dir;
  auto engine = make_engine(dir, HeadKind::kTransformer, 150);
  std::mt19937 rng(5);
  GenerationRequest r = fixed_length_request(random_prompt(rng), 40, DecodeMode::kSpeculative);
  auto spec = engine->new_session();
  auto out = engine->generate(*spec, r);
  ASSERT_TRUE(out.ok());
  auto& a = SessionAccess::state(*spec);
  // Rebuild from scratch: the same tokens prefilled in one pass.
  auto fresh = engine->new_session();
  GenerationRequest g;
  g.prompt = a.tokens;
  g.max_new_tokens = 1;
  g.mode = DecodeMode::kGreedy;
  ASSERT_TRUE(engine->generate(*fresh, g).ok());
  auto& b = SessionAccess::state(*fresh);
  ASSERT_EQ(a.tokens, b.tokens);
  const int64_t n = static_cast<int64_t>(a.tokens.size());
  for (size_t layer = 0; layer < a.cache.k.size(); ++layer) {
    const int64_t rows = std::min({a.cache.lengths[layer], b.cache.lengths[layer], n});
    // Layers 0-1 are the trunk, 2 is head 1: both cover every token.
    if (layer <= 2) ASSERT_EQ(rows, n) << "layer " << layer;
    if (rows == 0) continue;  // a draft head the fresh session never ran
    auto dk = (a.cache.k[layer].narrow(2, 0, rows) - b.cache.k[layer].narrow(2, 0, rows)).abs().max();
    auto dv = (a.cache.v[layer].narrow(2, 0, rows) - b.cache.v[layer].narrow(2, 0, rows)).abs().max();
    EXPECT_LT(dk.item<double>(), 1e-4) << "layer " << layer;
    EXPECT_LT(dv.item<double>(), 1e-4) << "layer " << layer;
  }
}

TEST(Session, PrefixReuseGivesTheSameOutputAsAColdStart) {
  TempDir dir;
  auto engine = make_engine(dir, HeadKind::kTransformer, 150);
  std::mt19937 rng(8);
  auto session = engine->new_session();
  for (int i = 0; i < 10; ++i) {
    GenerationRequest r;
    r.prompt = random_prompt(rng, 30);
    r.max_new_tokens = 16;
    auto first = engine->generate(*session, r);
    ASSERT_TRUE(first.ok());
    // A keystroke later: the same prompt plus what was typed.
    r.prompt.push_back('x');
    r.prompt.push_back('(');
    auto warm = engine->generate(*session, r);
    ASSERT_TRUE(warm.ok());
    EXPECT_GE(warm->stats.reused_tokens, static_cast<int64_t>(r.prompt.size()) - 2);
    EXPECT_LE(warm->stats.prefill_tokens, 2);
    auto cold = generate_alone(*engine, r);
    EXPECT_EQ(warm->tokens, cold.tokens) << "prompt " << i;
  }
}

}  // namespace
}  // namespace mtpc
