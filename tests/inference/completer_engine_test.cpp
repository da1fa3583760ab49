// The completion core over the real engine: the prompt the completer builds
// for a document longer than the context must reach the engine whole. The
// engine keeps room for the answer and the last pass's drafts and cuts a
// longer prompt from the left — the FIM prefix marker first — so the
// completer sizes its prompt to Engine::max_prompt_tokens.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "common/fixture_model.h"
#include "common/test_util.h"
#include "completion/completer.h"
#include "completion/model.h"
#include "inference/engine.h"

namespace mtpc {
namespace {

TEST(CompleterWithEngine, AFullContextPromptReachesTheEngineWhole) {
  testing::TempDir dir;
  testing::FixtureModel fixture;
  fixture.size = testing::FixtureModel::Size::kMicro;
  fixture.n_future = 8;  // the engine reserves kPromptDraftRoom positions: more than a line of the document
  fixture.max_seq_len = 256;
  ASSERT_TRUE(testing::write_fixture_model(dir / "m", fixture).ok());
  auto model = completion::load_engine_model(dir / "m", EngineOptions{});
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ((*model)->max_prompt_tokens(16), 256 - 16 - kPromptDraftRoom);

  // Short lines, so the window the completer cuts fills its budget to
  // within a few bytes.
  std::string text;
  for (int i = 0; i < 400; ++i) text += "v=" + std::to_string(i % 10) + "\n";
  text += "total = ";
  for (bool fim : {true, false}) {
    completion::OpenDocument doc(completion::Language::kPython, text + "\nz=2\n", "long.py");
    completion::Completer completer(model->get());
    completion::CompletionRequest r;
    r.cursor = text.size();
    r.settings.max_tokens = 16;
    r.settings.fim = fim;
    r.settings.deadline_ms = 60000;
    completion::Completion c = completer.complete(doc, r);
    ASSERT_TRUE(c.ok()) << c.error;
    EXPECT_FALSE(c.prompt_truncated) << "fim=" << fim << ": the engine cut the prompt's first tokens";
    ASSERT_TRUE(c.stats.has_value());
    EXPECT_GT(c.stats->prefill_tokens + c.stats->reused_tokens, 256 - 16 - 8 - 12) << "the prompt should fill its room";
  }
}

// A checkpoint that records the window its trunk was trained on (mtpc
// train's provenance.train.seq_len) gets prompts that, with the answer and
// the drafts' room, stay inside it; an spm model gets the suffix-prefix-
// middle template from its config.
TEST(CompleterWithEngine, TheTrainedWindowBoundsThePromptAndSpmModelsGetTheirTemplate) {
  testing::TempDir dir;
  testing::FixtureModel fixture;
  fixture.size = testing::FixtureModel::Size::kMicro;
  fixture.n_future = 2;
  fixture.max_seq_len = 256;
  fixture.fim = FimLayout::kSpm;
  ASSERT_TRUE(testing::write_fixture_model(dir / "m", fixture).ok());
  auto config = nlohmann::json::parse(testing::read_file(dir / "m/config.json"));
  EXPECT_EQ(config["model"]["fim"], "spm");
  config["provenance"] = {{"trained_by", "mtpc train"}, {"train", {{"seq_len", 128}}}};
  testing::write_file(dir / "m/config.json", config.dump());
  auto model = completion::load_engine_model(dir / "m", EngineOptions{});
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ((*model)->max_prompt_tokens(16), 128 - 16 - kPromptDraftRoom);
  EXPECT_EQ((*model)->tokenizer().fim_template().order, FimTemplate::Order::kSuffixPrefixMiddle);

  std::string text;
  for (int i = 0; i < 100; ++i) text += "v=" + std::to_string(i % 10) + "\n";
  text += "total = ";
  completion::OpenDocument doc(completion::Language::kPython, text + "\nz=2\n", "long.py");
  completion::Completer completer(model->get());
  completion::CompletionRequest r;
  r.cursor = text.size();
  r.settings.max_tokens = 16;
  r.settings.deadline_ms = 60000;
  completion::Completion c = completer.complete(doc, r);
  ASSERT_TRUE(c.ok()) << c.error;
  EXPECT_FALSE(c.prompt_truncated);
  ASSERT_TRUE(c.stats.has_value());
  const int64_t prompt = c.stats->prefill_tokens + c.stats->reused_tokens;
  EXPECT_LE(prompt, 128 - 16 - kPromptDraftRoom);
  EXPECT_GT(prompt, 128 - 16 - kPromptDraftRoom - 12) << "the prompt should fill the trained window's room";

  // Without the record the model's own context bounds it, as before.
  config["provenance"] = nlohmann::json::object();
  testing::write_file(dir / "m/config.json", config.dump());
  model = completion::load_engine_model(dir / "m", EngineOptions{});
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ((*model)->max_prompt_tokens(16), 256 - 16 - kPromptDraftRoom);
}

}  // namespace
}  // namespace mtpc
