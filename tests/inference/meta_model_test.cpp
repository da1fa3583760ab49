// Self-speculative decoding on a Meta-layout multi-token model
// (tests/model/meta_fixture.py): the Engine's greedy and speculative outputs
// both equal the greedy continuation of Meta's own formulation in torch.
//
// The Engine loads mtpc checkpoint directories and makes its tokenizer from
// the config; the fixture has no SentencePiece model. So the Meta weights,
// loaded by load_meta_model, are written as an mtpc checkpoint whose config
// says "byte" (the fixture's vocabulary is the byte tokenizer's 262 ids) and
// decoded from token ids; the tokenizer only turns ids into text on the way.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "inference/engine.h"
#include "model/checkpoint/checkpoint.h"
#include "model/checkpoint/meta_checkpoint.h"
#include "model/python_fixture.h"

namespace mtpc {
namespace {

using testing::TempDir;

TEST(MetaModel, SpeculativeDecodingEqualsMetasGreedy) {
  std::string error;
  const std::string fixture = testing::cached_python_fixture("meta_fixture.py", &error);
  ASSERT_EQ(error, "");
  auto reference = nlohmann::json::parse(testing::read_file(fixture + "/reference.json"));

  auto loaded = load_meta_model(fixture + "/model");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ModelConfig byte_config = loaded->model->config();
  byte_config.tokenizer = "byte";
  MtpModel copy(byte_config);
  {
    torch::NoGradGuard no_grad;
    auto from = named_parameters_sorted(*loaded->model);
    auto to = named_parameters_sorted(*copy);
    ASSERT_EQ(from.size(), to.size());
    for (size_t i = 0; i < from.size(); ++i) to[i].second.copy_(from[i].second);
  }
  TempDir dir;
  const std::string converted = dir / "converted";
  std::filesystem::create_directories(converted);
  ASSERT_TRUE(write_model_files(converted, *copy, loaded->provenance).ok());
  auto engine = Engine::load(converted);
  ASSERT_TRUE(engine.ok()) << engine.status().message();

  int64_t proposed = 0;
  for (size_t p = 0; p < reference["prompts"].size(); ++p) {
    const auto want = reference["greedy"][p].get<std::vector<int32_t>>();
    GenerationRequest r;
    r.prompt = reference["prompts"][p].get<std::vector<int32_t>>();
    r.max_new_tokens = static_cast<int>(want.size());
    r.stop_at_eos = false;
    r.mode = DecodeMode::kGreedy;
    auto session = (*engine)->new_session();
    ASSERT_TRUE(session.ok());
    auto greedy = (*engine)->generate(*session, r);
    ASSERT_TRUE(greedy.ok()) << greedy.status().message();
    EXPECT_EQ(greedy->tokens, want) << "greedy, prompt " << p;
    r.mode = DecodeMode::kSpeculative;
    for (int k : {1, 2, 3}) {
      for (bool adaptive : {false, true}) {
        r.draft_length = k;
        r.adaptive_draft = adaptive;
        auto s = (*engine)->new_session();
        ASSERT_TRUE(s.ok());
        auto fast = (*engine)->generate(*s, r);
        ASSERT_TRUE(fast.ok()) << fast.status().message();
        EXPECT_EQ(fast->tokens, want) << "speculative k=" << k << " adaptive=" << adaptive << ", prompt " << p;
        for (auto n : fast->stats.proposed) proposed += n;
      }
    }
  }
  EXPECT_GT(proposed, 0) << "the extra heads never drafted: speculation was not exercised";
}

}  // namespace
}  // namespace mtpc
