// Stop rules, cancellation, deadlines, streaming and bad input.
#include <gtest/gtest.h>

#include <thread>

#include "inference/engine.h"
#include "inference/session_state.h"
#include "common/fixture_engine.h"
#include "common/fixture_model.h"
#include "common/test_util.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc {
namespace {

using mtpc::testing::FixtureModel;
using mtpc::testing::fixed_length_request;
using mtpc::testing::load_fixture_engine;
using mtpc::testing::TempDir;

std::shared_ptr<Engine> random_engine(const TempDir& dir, int max_seq_len = 96) {
  FixtureModel o;
  o.size = FixtureModel::Size::kMicro;
  o.n_future = 3;
  o.max_seq_len = max_seq_len;
  o.seed = 3;
  return load_fixture_engine(dir, o, EngineOptions{});
}

GenerationRequest request(int max_new_tokens, DecodeMode mode = DecodeMode::kSpeculative) {
  return fixed_length_request(ByteTokenizer().encode("def main():\n    "), max_new_tokens, mode);
}

TEST(StopRules, MaxTokensZeroReturnsNothingWithoutRunningTheModel) {
  TempDir dir;
  auto e = random_engine(dir);
  auto s = e->new_session();
  auto out = e->generate(*s, request(0));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->tokens.empty());
  EXPECT_EQ(out->reason, StopReason::kMaxTokens);
  EXPECT_EQ(out->stats.forward_passes, 0);
}

TEST(StopRules, StopStringAndPredicateCutTheSameWayForEveryDecoder) {
  TempDir dir;
  auto e = random_engine(dir);
  auto s = e->new_session();
  auto free_run = e->generate(*s, request(40, DecodeMode::kGreedy));
  ASSERT_TRUE(free_run.ok());
  ASSERT_GE(free_run->text.size(), 10u);
  // A stop string taken from the middle of the free-running text.
  const std::string stop = free_run->text.substr(6, 2);
  const size_t cut = free_run->text.find(stop);
  for (DecodeMode mode : {DecodeMode::kGreedy, DecodeMode::kSpeculative}) {
    auto r = request(40, mode);
    r.stop_strings = {stop, "unlikely-stop-string"};
    auto out = e->generate(*s, r);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->reason, StopReason::kStopString);
    EXPECT_EQ(out->text, free_run->text.substr(0, cut));

    r.stop_strings.clear();
    r.stop_predicate = [](std::string_view text) -> std::optional<size_t> {
      if (text.size() >= 9) return 7;
      return std::nullopt;
    };
    out = e->generate(*s, r);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->reason, StopReason::kPredicate);
    EXPECT_EQ(out->text, free_run->text.substr(0, 7));
    EXPECT_EQ(out->tokens.size(), 9u);
  }
}

TEST(StopRules, EosEndsGenerationAndIsNotEmitted) {
  ByteTokenizer tok;
  GenerationRequest r;
  r.max_new_tokens = 10;
  StopRules rules(r, tok);
  EXPECT_FALSE(rules.push('a'));
  EXPECT_TRUE(rules.push(tok.specials().eos));
  EXPECT_EQ(rules.reason(), StopReason::kEos);
  EXPECT_EQ(rules.text(), "a");
  EXPECT_EQ(rules.tokens().size(), 1u);
  // With stop_at_eos off, EOS is an ordinary (textless) token.
  r.stop_at_eos = false;
  StopRules open(r, tok);
  EXPECT_FALSE(open.push(tok.specials().eos));
  EXPECT_EQ(open.tokens().size(), 1u);
}

TEST(StopRules, StopStringsAreFoundAcrossTokenBoundariesAndHeldBackFromStreaming) {
  ByteTokenizer tok;
  GenerationRequest r;
  r.max_new_tokens = 100;
  r.stop_strings = {"\n\n"};
  StopRules rules(r, tok);
  for (char c : std::string("ab\n")) EXPECT_FALSE(rules.push(c));
  EXPECT_EQ(rules.settled_length(), 2u);  // the newline may start the stop string
  EXPECT_TRUE(rules.push('\n'));
  EXPECT_EQ(rules.text(), "ab");
  EXPECT_EQ(rules.reason(), StopReason::kStopString);
}

TEST(Cancellation, ACancelledRequestStopsBeforeTheNextPass) {
  TempDir dir;
  auto e = random_engine(dir);
  auto s = e->new_session();
  auto token = std::make_shared<CancellationToken>();
  auto r = request(60, DecodeMode::kGreedy);
  r.cancel = token;
  int chunks = 0;
  int64_t passes_at_cancel = -1;
  r.on_chunk = [&](std::string_view) {
    if (++chunks == 3) {
      token->cancel();
      passes_at_cancel = chunks;  // greedy: one chunk per pass
    }
  };
  auto out = e->generate(*s, r);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->reason, StopReason::kCancelled);
  EXPECT_EQ(out->stats.forward_passes, passes_at_cancel);
  EXPECT_EQ(out->tokens.size(), 3u);
}

TEST(Cancellation, AnotherThreadCancelsAndTheLoopReturns) {
  TempDir dir;
  auto e = random_engine(dir, 1024);
  auto s = e->new_session();
  auto token = std::make_shared<CancellationToken>();
  auto r = request(900, DecodeMode::kGreedy);
  r.cancel = token;
  std::atomic<int> emitted{0};
  r.on_chunk = [&](std::string_view) { ++emitted; };
  std::thread canceller([&] {
    while (emitted.load() < 5) std::this_thread::yield();
    token->cancel();
  });
  auto out = e->generate(*s, r);
  canceller.join();
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->reason, StopReason::kCancelled);
  EXPECT_LT(out->tokens.size(), 900u);
}

TEST(Deadline, APassedDeadlineReturnsWhatWasDecoded) {
  TempDir dir;
  auto e = random_engine(dir, 1024);
  auto s = e->new_session();
  auto r = request(900, DecodeMode::kSpeculative);
  r.deadline = std::chrono::steady_clock::now();  // already due
  auto out = e->generate(*s, r);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->reason, StopReason::kDeadline);
  EXPECT_EQ(out->tokens.size(), 1u);  // the prompt pass's own token
  EXPECT_EQ(out->stats.forward_passes, 1);

  // A deadline that passes mid-decode whatever the machine's speed: the
  // third streamed chunk waits until it is due.
  r.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
  int chunks = 0;
  r.on_chunk = [&](std::string_view) {
    if (++chunks == 3) std::this_thread::sleep_until(*r.deadline + std::chrono::milliseconds(1));
  };
  out = e->generate(*s, r);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->reason, StopReason::kDeadline);
  EXPECT_LT(out->tokens.size(), 900u);
  EXPECT_GE(out->tokens.size(), 1u);
}

TEST(Streaming, ChunksConcatenateToTheResultText) {
  TempDir dir;
  auto e = random_engine(dir);
  auto s = e->new_session();
  for (DecodeMode mode : {DecodeMode::kGreedy, DecodeMode::kSpeculative, DecodeMode::kSampling}) {
    auto r = request(40, mode);
    r.stop_strings = {"zq"};
    std::string streamed;
    int chunks = 0;
    r.on_chunk = [&](std::string_view c) { streamed += c; ++chunks; };
    auto out = e->generate(*s, r);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(streamed, out->text) << decode_mode_name(mode);
    EXPECT_GE(chunks, 2);
  }
}

TEST(BadInput, EachGivesAClearErrorOrADefinedResult) {
  TempDir dir;
  auto e = random_engine(dir, 64);
  auto s = e->new_session();
  auto r = request(8);
  r.prompt = {65, 262};
  auto out = e->generate(*s, r);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("262"), std::string::npos);
  r.prompt = {-4};
  EXPECT_FALSE(e->generate(*s, r).ok());

  r = request(8);
  r.draft_length = 3;  // n_future is 3: at most 2 drafts
  out = e->generate(*s, r);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("n_future"), std::string::npos);

  r = request(8, DecodeMode::kSampling);
  r.sampling.temperature = 0;
  EXPECT_FALSE(e->generate(*s, r).ok());

  // Empty prompt: decoding starts from BOS.
  r = request(5);
  r.prompt.clear();
  out = e->generate(*s, r);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->tokens.size(), 5u);

  // Longer than the context: cut from the left, documented by the flag.
  r = request(10);
  r.prompt.assign(500, 'a');
  out = e->generate(*s, r);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_TRUE(out->prompt_truncated);
  EXPECT_EQ(out->tokens.size(), 10u);

  // Asking for more than fits: stops at the end of the context.
  r = request(500);
  out = e->generate(*s, r);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->reason, StopReason::kContextFull);
  EXPECT_LE(out->tokens.size() + 16, 64u + 1);
}

TEST(BadInput, NanWeightsGiveAnErrorNotGarbage) {
  TempDir dir;
  FixtureModel o;
  o.size = FixtureModel::Size::kMicro;
  o.n_future = 2;
  o.max_seq_len = 0;
  o.seed.reset();
  o.weights = FixtureModel::Weights::kNanLogit;
  auto e = load_fixture_engine(dir, o, EngineOptions{});
  auto s = e->new_session();
  auto out = e->generate(*s, request(4));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("NaN"), std::string::npos) << out.status().message();
  // The session is still usable afterwards (and still fails the same way).
  EXPECT_EQ(s->cached_tokens(), 0);
}

TEST(BadInput, ASessionUsedFromTwoThreadsRefusesTheSecond) {
  TempDir dir;
  auto e = random_engine(dir);
  auto s = e->new_session();
  auto r = request(6);
  std::optional<Status> second;
  std::vector<int32_t> before;
  r.on_chunk = [&](std::string_view) {
    if (second) return;
    // While the first generate() runs, a second thread tries the same session.
    std::thread other([&] { second = e->generate(*s, request(3)).status(); });
    other.join();
  };
  auto out = e->generate(*s, r);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->ok());
  EXPECT_NE(second->message().find("in use"), std::string::npos);
  // The first request was not disturbed: same output as a fresh session.
  auto fresh = e->new_session();
  auto again = e->generate(*fresh, r);
  EXPECT_EQ(out->tokens, again->tokens);
}

}  // namespace
}  // namespace mtpc
