// Batched decoding: every sequence of a batch gets exactly what decoding it
// alone gives, with its own stop rules, deadline, cancellation and stats.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <memory>
#include <random>

#include "inference/engine.h"
#include "inference/session_state.h"
#include "inference/test_models.h"
#include "model/network/network.h"
#include "model/network/packed.h"

namespace mtpc {
namespace {

using mtpc::testing::FixtureModel;
using mtpc::testing::fixed_length_request;
using mtpc::testing::generate_alone;
using mtpc::testing::load_fixture_engine;
using mtpc::testing::make_engine;
using mtpc::testing::random_prompt;
using mtpc::testing::small_config;
using mtpc::testing::TempDir;
using mtpc::testing::write_fixture_model;

// Engines shared by the tests of this file: training costs seconds.
struct Models {
  TempDir transformer_dir, mlp_dir;
  std::shared_ptr<Engine> transformer_trained, mlp_random;
};
Models& models() {
  static Models m;
  if (!m.transformer_trained) {
    m.transformer_trained = make_engine(m.transformer_dir, HeadKind::kTransformer, 150);
    m.mlp_random = make_engine(m.mlp_dir, HeadKind::kMlp, 0);
  }
  return m;
}

// Runs the requests as one batch on fresh sessions; every one must succeed.
std::vector<GenerationResult> batched(Engine& e, const std::vector<GenerationRequest>& requests) {
  std::vector<Session> sessions;
  for (size_t i = 0; i < requests.size(); ++i) sessions.push_back(std::move(*e.new_session()));
  std::vector<Session*> ptrs;
  for (auto& s : sessions) ptrs.push_back(&s);
  auto out = e.generate_batch(ptrs, requests);
  EXPECT_TRUE(out.ok()) << out.status().message();
  std::vector<GenerationResult> results;
  if (!out.ok()) return results;
  for (auto& r : *out) {
    EXPECT_TRUE(r.ok()) << r.status().message();
    results.push_back(r.ok() ? *r : GenerationResult{});
  }
  return results;
}

void expect_same(const GenerationResult& single, const GenerationResult& batch, const std::string& what) {
  EXPECT_EQ(batch.tokens, single.tokens) << what;
  EXPECT_EQ(batch.text, single.text) << what;
  EXPECT_EQ(batch.reason, single.reason) << what;
  EXPECT_EQ(batch.stats.forward_passes, single.stats.forward_passes) << what;
  EXPECT_EQ(batch.stats.proposed, single.stats.proposed) << what;
  EXPECT_EQ(batch.stats.accepted, single.stats.accepted) << what;
  EXPECT_EQ(batch.stats.prefill_tokens, single.stats.prefill_tokens) << what;
}

// Prompts of different lengths (1 to 40 tokens), different budgets, so that
// sequences drop out of the batch at different passes.
std::vector<GenerationRequest> mixed_requests(DecodeMode mode, uint32_t seed, int count) {
  std::mt19937 rng(seed);
  std::vector<GenerationRequest> rs;
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> prompt = random_prompt(rng);
    GenerationRequest r = fixed_length_request(std::move(prompt), 8 + static_cast<int>(rng() % 24), mode);
    // Cost-aware drafting learns from every request the engine decodes, so
    // the same request alone and in a batch could draft differently (with
    // the same tokens); these tests compare the drafting too.
    r.cost_aware_draft = false;
    rs.push_back(r);
  }
  return rs;
}

TEST(PackedModel, PackedSegmentsMatchSeparateCallsRowForRow) {
  for (HeadKind kind : {HeadKind::kTransformer, HeadKind::kMlp}) {
    torch::manual_seed(2);
    ModelConfig c = small_config(kind);
    MtpModel m(c);
    m->eval();
    torch::NoGradGuard no_grad;
    // Three sequences: fresh (start 0), one with 5 cached rows, one without a cache.
    std::vector<int64_t> starts = {0, 5, 0}, lengths = {7, 3, 4};
    auto a0 = KvCache::create(c, 1, 32), a1 = KvCache::create(c, 1, 32);
    auto b0 = KvCache::create(c, 1, 32), b1 = KvCache::create(c, 1, 32);
    auto warm = torch::randint(0, c.vocab_size, {1, 5}, torch::kLong);
    for (KvCache* cache : {&a1, &b1}) m->head_states(1, m->trunk(warm, 0, cache), 0, cache);
    std::vector<torch::Tensor> inputs;
    for (auto l : lengths) inputs.push_back(torch::randint(0, c.vocab_size, {1, l}, torch::kLong));
    std::vector<KvCache*> sep = {&a0, &a1, nullptr};
    std::vector<PackedSegment> segments = {{0, 7, &b0}, {5, 3, &b1}, {0, 4, nullptr}};
    auto packed = trunk_packed(*m, torch::cat(inputs, 1), segments);
    auto packed_head = head_states_packed(*m, 1, packed, segments);
    int64_t offset = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      auto h = m->trunk(inputs[i], starts[i], sep[i]);
      auto hs = m->head_states(1, h, starts[i], sep[i]);
      EXPECT_TRUE(torch::allclose(packed.narrow(1, offset, lengths[i]), h, 1e-5, 1e-6)) << i;
      EXPECT_TRUE(torch::allclose(packed_head.narrow(1, offset, lengths[i]), hs, 1e-5, 1e-5)) << i;
      offset += lengths[i];
    }
    // The packed call wrote each sequence's own cache rows, and only those.
    EXPECT_EQ(b0.lengths[0], 7);
    EXPECT_EQ(b1.lengths[0], 8);
    EXPECT_TRUE(torch::allclose(b1.k[1].narrow(2, 0, 8), a1.k[1].narrow(2, 0, 8), 1e-5, 1e-6));
  }
}

TEST(Batch, GreedyAndSpeculativeBatchesGiveEachSequenceItsSingleOutput) {
  for (auto* engine : {models().transformer_trained.get(), models().mlp_random.get()}) {
    for (DecodeMode mode : {DecodeMode::kGreedy, DecodeMode::kSpeculative}) {
      for (int k : {0, 1, 3}) {
        if (mode == DecodeMode::kGreedy && k != 0) continue;
        auto requests = mixed_requests(mode, 40 + k, 6);
        for (auto& r : requests) {
          r.draft_length = k;
          r.adaptive_draft = k == 0;
        }
        auto results = batched(*engine, requests);
        ASSERT_EQ(results.size(), requests.size());
        for (size_t i = 0; i < requests.size(); ++i) {
          auto single = generate_alone(*engine, requests[i]);
          ASSERT_EQ(single.tokens.size(), static_cast<size_t>(requests[i].max_new_tokens));
          expect_same(single, results[i], std::string(decode_mode_name(mode)) + " k=" + std::to_string(k) +
                                              " sequence " + std::to_string(i));
        }
      }
    }
  }
}

TEST(Batch, ATrainedModelsBatchAcceptsDraftsAndSavesPasses) {
  Engine& e = *models().transformer_trained;
  auto requests = mixed_requests(DecodeMode::kSpeculative, 7, 5);
  auto results = batched(e, requests);
  int64_t accepted = 0, tokens = 0, passes = 0;
  for (auto& r : results) {
    for (auto a : r.stats.accepted) accepted += a;
    tokens += r.stats.tokens;
    passes += r.stats.forward_passes;
  }
  EXPECT_GT(accepted, tokens / 4) << "drafts of a trained model should often be accepted";
  EXPECT_LT(passes, tokens);
}

TEST(Batch, MixedModesAndSamplingInOneBatch) {
  Engine& e = *models().transformer_trained;
  std::vector<GenerationRequest> requests = mixed_requests(DecodeMode::kGreedy, 11, 6);
  requests[1].mode = DecodeMode::kSpeculative;
  requests[2].mode = DecodeMode::kSampling;  // plain sampling
  requests[2].sampling.seed = 5;
  requests[3].mode = DecodeMode::kSampling;  // speculative sampling
  requests[3].draft_length = 2;
  requests[3].sampling = {0.8, 20, 0.95, 9};
  requests[4].mode = DecodeMode::kSpeculative;
  requests[4].draft_length = 2;
  requests[4].adaptive_draft = false;
  requests[5].mode = DecodeMode::kSampling;
  requests[5].draft_length = 3;
  requests[5].sampling.seed = 6;
  auto results = batched(e, requests);
  ASSERT_EQ(results.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i)
    expect_same(generate_alone(e, requests[i]), results[i], "sequence " + std::to_string(i));
}

TEST(Batch, EachSequenceKeepsItsOwnStopRulesCancellationDeadlineAndStream) {
  Engine& e = *models().transformer_trained;
  std::vector<GenerationRequest> requests = mixed_requests(DecodeMode::kSpeculative, 21, 5);
  for (auto& r : requests) r.max_new_tokens = 30;
  auto free_run = generate_alone(e, requests[0]);
  ASSERT_GE(free_run.text.size(), 12u);
  requests[0].stop_strings = {free_run.text.substr(8, 2)};
  requests[1].stop_predicate = [](std::string_view text) -> std::optional<size_t> {
    if (text.size() >= 9) return 4;
    return std::nullopt;
  };
  auto cancelled = std::make_shared<CancellationToken>();
  cancelled->cancel();
  requests[2].cancel = cancelled;
  requests[3].deadline = std::chrono::steady_clock::now();  // already due
  std::vector<std::string> streamed(requests.size());
  for (size_t i = 0; i < requests.size(); ++i)
    requests[i].on_chunk = [&streamed, i](std::string_view c) { streamed[i] += c; };
  auto results = batched(e, requests);
  ASSERT_EQ(results.size(), requests.size());
  EXPECT_EQ(results[0].reason, StopReason::kStopString);
  EXPECT_EQ(results[1].reason, StopReason::kPredicate);
  EXPECT_EQ(results[1].text.size(), 4u);
  EXPECT_EQ(results[2].reason, StopReason::kCancelled);
  EXPECT_EQ(results[3].reason, StopReason::kDeadline);
  EXPECT_EQ(results[4].reason, StopReason::kMaxTokens);
  EXPECT_EQ(results[4].tokens.size(), 30u);
  for (size_t i = 0; i < requests.size(); ++i) {
    // The same chunks as the sequence streams alone. (A predicate may cut
    // the text back before what was already streamed, alone as in a batch:
    // sequence 1's stream is longer than its text.)
    std::string alone_stream;
    GenerationRequest single = requests[i];
    single.on_chunk = [&alone_stream](std::string_view c) { alone_stream += c; };
    expect_same(generate_alone(e, single), results[i], "sequence " + std::to_string(i));
    EXPECT_EQ(streamed[i], alone_stream) << i;
    if (i != 1) EXPECT_EQ(streamed[i], results[i].text) << i;
  }
}

TEST(Batch, SessionsKeepTheirCachesForTheNextBatch) {
  Engine& e = *models().transformer_trained;
  auto requests = mixed_requests(DecodeMode::kSpeculative, 31, 4);
  std::vector<Session> sessions;
  std::vector<Session*> ptrs;
  for (size_t i = 0; i < requests.size(); ++i) sessions.push_back(std::move(*e.new_session()));
  for (auto& s : sessions) ptrs.push_back(&s);
  ASSERT_TRUE(e.generate_batch(ptrs, requests).ok());
  // A keystroke later in every document.
  for (auto& r : requests) r.prompt.push_back('(');
  auto warm = e.generate_batch(ptrs, requests);
  ASSERT_TRUE(warm.ok());
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE((*warm)[i].ok());
    EXPECT_GE((*warm)[i]->stats.reused_tokens, static_cast<int64_t>(requests[i].prompt.size()) - 1);
    EXPECT_EQ((*warm)[i]->tokens, generate_alone(e, requests[i]).tokens) << i;
  }
}

TEST(Batch, BadRequestsFailAloneAndTheRestStillRun) {
  Engine& e = *models().mlp_random;
  auto requests = mixed_requests(DecodeMode::kSpeculative, 51, 4);
  requests[1].prompt.push_back(100000);  // outside the vocabulary
  requests[2].max_new_tokens = 0;
  std::vector<Session> sessions;
  for (int i = 0; i < 3; ++i) sessions.push_back(std::move(*e.new_session()));
  // The same session twice: the second use is refused.
  std::vector<Session*> ptrs = {&sessions[0], &sessions[1], &sessions[2], &sessions[0]};
  auto out = e.generate_batch(ptrs, requests);
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->size(), 4u);
  ASSERT_TRUE((*out)[0].ok());
  EXPECT_EQ((*out)[0]->tokens, generate_alone(e, requests[0]).tokens);
  ASSERT_FALSE((*out)[1].ok());
  EXPECT_NE((*out)[1].status().message().find("100000"), std::string::npos);
  ASSERT_TRUE((*out)[2].ok());
  EXPECT_TRUE((*out)[2]->tokens.empty());
  EXPECT_EQ((*out)[2]->stats.forward_passes, 0);
  ASSERT_FALSE((*out)[3].ok());
  EXPECT_NE((*out)[3].status().message().find("in use"), std::string::npos);

  EXPECT_FALSE(e.generate_batch({&sessions[0]}, {}).ok());
  auto none = e.generate_batch({nullptr}, {requests[0]});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE((*none)[0].ok());
  auto empty = e.generate_batch({}, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Batch, NanLogitsFailTheBatchSequencesAndResetTheirSessions) {
  TempDir dir;
  FixtureModel o;
  o.head_kind = HeadKind::kMlp;
  o.n_future = 2;
  o.seed.reset();
  o.weights = FixtureModel::Weights::kNanLogit;
  auto e = load_fixture_engine(dir, o, EngineOptions{});
  auto requests = mixed_requests(DecodeMode::kSpeculative, 3, 2);
  std::vector<Session> sessions;
  for (int i = 0; i < 2; ++i) sessions.push_back(std::move(*e->new_session()));
  auto out = e->generate_batch({&sessions[0], &sessions[1]}, requests);
  ASSERT_TRUE(out.ok());
  for (int i = 0; i < 2; ++i) {
    ASSERT_FALSE((*out)[i].ok());
    EXPECT_NE((*out)[i].status().message().find("NaN"), std::string::npos);
    EXPECT_EQ(sessions[i].cached_tokens(), 0);
  }
}

TEST(Devices, CudaWithoutAUsableGpuIsAClearError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  TempDir dir;
  FixtureModel o;
  o.head_kind = HeadKind::kMlp;
  o.n_future = 2;
  o.seed.reset();
  ASSERT_TRUE(write_fixture_model(dir.path(), o).ok());
  auto e = Engine::load(dir.path(), EngineOptions{"cuda", "fp32"});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("no usable CUDA device"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace mtpc
