// Self-speculative decoding on a Meta-layout multi-token model
// (tests/model/meta_fixture.py): the Engine's greedy and speculative outputs
// both equal the greedy continuation of Meta's own formulation in torch.
//
// Two ways in: the Meta weights written as an mtpc checkpoint whose config
// says "byte" (the fixture's vocabulary is the byte tokenizer's 262 ids),
// and the Meta directory itself with its tokenizer.model (a SentencePiece
// model of Llama's layout), through the Engine, `mtpc complete` and
// `mtpc serve` as a user runs them.
#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "inference/engine.h"
#include "model/checkpoint/checkpoint.h"
#include "model/checkpoint/meta_checkpoint.h"
#include "model/python_fixture.h"
#include "model/tokenizer/tokenizer.h"

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

TEST(MetaModel, DirectoryWithItsTokenizerModelCompletesTextEndToEnd) {
  std::string error;
  const std::string fixture = testing::cached_python_fixture("meta_fixture.py", &error);
  ASSERT_EQ(error, "");
  auto reference = nlohmann::json::parse(testing::read_file(fixture + "/reference.json"));
  const std::string dir = fixture + "/model";

  auto engine = Engine::load(dir);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const Tokenizer& tokenizer = (*engine)->tokenizer();
  EXPECT_EQ(tokenizer.kind(), "sentencepiece");
  EXPECT_EQ(tokenizer.vocab_size(), 262);
  EXPECT_EQ(tokenizer.fim_template().begin, std::vector<int32_t>{1}) << "Llama-family prompts start with <s>";
  EXPECT_FALSE(tokenizer.fim_template().available()) << "Meta's release has no infilling markers";

  // Loaded straight from params.json + consolidated.pth + tokenizer.model:
  // still Meta's greedy continuation, greedy and speculative.
  for (size_t p = 0; p < reference["prompts"].size(); ++p) {
    const auto want = reference["greedy"][p].get<std::vector<int32_t>>();
    GenerationRequest r;
    r.prompt = reference["prompts"][p].get<std::vector<int32_t>>();
    r.max_new_tokens = static_cast<int>(want.size());
    r.stop_at_eos = false;
    for (DecodeMode mode : {DecodeMode::kGreedy, DecodeMode::kSpeculative}) {
      r.mode = mode;
      r.draft_length = 3;
      auto session = (*engine)->new_session();
      ASSERT_TRUE(session.ok());
      auto out = (*engine)->generate(*session, r);
      ASSERT_TRUE(out.ok()) << out.status().message();
      EXPECT_EQ(out->tokens, want) << decode_mode_name(mode) << ", prompt " << p;
      auto text = tokenizer.decode(out->tokens);
      ASSERT_TRUE(text.ok()) << text.status().message();
      EXPECT_EQ(out->text, *text);
    }
  }

  // Text in: BOS, then the dummy prefix and the pieces ("\u2581a" is 261).
  EXPECT_EQ(encode_prompt(tokenizer, "a a"), (std::vector<int32_t>{1, 261, 261}));

  // mtpc complete --prompt: the same prompt ids through the command line.
  auto cli = testing::run_command(std::string(MTPC_BINARY) + " complete --model '" + dir +
                                  "' --prompt 'a a' --max-new-tokens 6 --mode speculative --json");
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  const size_t brace = cli.output.find('{');
  ASSERT_NE(brace, std::string::npos) << cli.output;
  auto json = nlohmann::json::parse(cli.output.substr(brace), nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << cli.output;
  EXPECT_TRUE(json["completion"].is_string());
  EXPECT_EQ(json["prefill_tokens"], 3) << "<s> \u2581a \u2581a: " << cli.output;

  // mtpc serve: loads the directory up front and says once that the model
  // has no fill-in-the-middle (stdin at its end: it stops after loading).
  testing::TempDir scratch;
  const std::string log = scratch / "serve.log";
  auto serve = testing::run_command("timeout 120 " + std::string(MTPC_BINARY) + " serve --model '" + dir +
                                    "' --log '" + log + "' < /dev/null");
  const std::string text = testing::read_file(log);
  EXPECT_NE(text.find("tokenizer sentencepiece"), std::string::npos) << text << serve.output;
  const std::string no_fim = "the model has no fill-in-the-middle tokens";
  const size_t first = text.find(no_fim);
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find(no_fim, first + 1), std::string::npos) << "said more than once:\n" << text;
}

}  // namespace
}  // namespace mtpc
