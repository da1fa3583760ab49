#include "model/network/config.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mtpc {
namespace {

TEST(ModelConfig, PresetsAreValidAndSizedAsDocumented) {
  auto tiny = model_preset("tiny"), small = model_preset("small"), base = model_preset("base");
  ASSERT_TRUE(tiny.ok() && small.ok() && base.ok());
  EXPECT_TRUE(tiny->validate().ok());
  EXPECT_NEAR(tiny->parameter_count() / 1e6, 1.0, 0.5);
  EXPECT_NEAR(small->parameter_count() / 1e6, 5.0, 1.5);
  EXPECT_NEAR(base->parameter_count() / 1e6, 20.0, 4.0);
  EXPECT_FALSE(model_preset("huge").ok());
}

TEST(ModelConfig, OutOfRangeValuesNameTheField) {
  auto expect_error = [](ModelConfig c, const std::string& needle) {
    Status s = c.validate();
    ASSERT_FALSE(s.ok()) << needle;
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  };
  ModelConfig c = *model_preset("tiny");
  ModelConfig bad = c; bad.n_future = 0; expect_error(bad, "n_future");
  bad = c; bad.dim = 130; expect_error(bad, "n_heads");
  bad = c; bad.n_kv_heads = 3; expect_error(bad, "n_kv_heads");
  bad = c; bad.max_seq_len = -1; expect_error(bad, "max_seq_len");
  bad = c; bad.vocab_size = 100; expect_error(bad, "vocab_size");
}

TEST(ModelConfig, JsonRoundTripAndStrictParsing) {
  ModelConfig c = *model_preset("small");
  c.head_kind = HeadKind::kMlp;
  auto back = model_config_from_json(model_config_to_json(c), "config.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(model_config_to_json(*back), model_config_to_json(c));

  auto j = model_config_to_json(c);
  j["head_kind"] = "lstm";
  auto e = model_config_from_json(j, "config.json");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("head_kind"), std::string::npos);
  EXPECT_NE(e.status().message().find("config.json"), std::string::npos);

  j = model_config_to_json(c);
  j["n_layres"] = 3;
  e = model_config_from_json(j, "config.json");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("n_layres"), std::string::npos);

  j = model_config_to_json(c);
  j["dim"] = "wide";
  EXPECT_FALSE(model_config_from_json(j, "x").ok());
}

}  // namespace
}  // namespace mtpc

namespace mtpc {
namespace {

// Pretrained models' fields survive the mtpc config JSON; an mtpc model's
// JSON does not list them (existing config.json files stay as they were).
TEST(ModelConfig, PretrainedFieldsRoundTripAndStayOutOfDefaults) {
  ModelConfig plain = *model_preset("tiny");
  auto j = model_config_to_json(plain);
  for (const char* key : {"head_dim", "attention_bias", "tie_embeddings", "rope_scaling"})
    EXPECT_FALSE(j.contains(key)) << key;

  ModelConfig c = plain;
  c.tokenizer = "files";
  c.explicit_head_dim = 48;  // 128 / 4 would be 32
  c.attention_bias = true;
  c.tie_embeddings = true;
  c.rope_scaling = {RopeScalingKind::kLlama3, 8.0, 1.0, 4.0, 8192};
  ASSERT_TRUE(c.validate().ok()) << c.validate().message();
  auto back = model_config_from_json(model_config_to_json(c), "config.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(model_config_to_json(*back), model_config_to_json(c));
  EXPECT_EQ(back->head_dim(), 48);
  EXPECT_EQ(back->rope_scaling.kind, RopeScalingKind::kLlama3);

  j = model_config_to_json(c);
  j["rope_scaling"] = {{"type", "longrope"}, {"factor", 2.0}};
  auto bad = model_config_from_json(j, "config.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("longrope"), std::string::npos) << bad.status().message();
  c.tokenizer = "sentencepiece";
  EXPECT_FALSE(c.validate().ok());
}

// "fim": presets are spm, a config without the field is psm (the layout of
// every checkpoint written before it existed), psm is not written.
TEST(ModelConfig, FimLayoutDefaultsToPsmWhenAbsentAndPresetsAreSpm) {
  ModelConfig preset = *model_preset("small");
  EXPECT_EQ(preset.fim, FimLayout::kSpm);
  auto j = model_config_to_json(preset);
  EXPECT_EQ(j["fim"], "spm");
  auto back = model_config_from_json(j, "config.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->fim, FimLayout::kSpm);
  j.erase("fim");
  back = model_config_from_json(j, "config.json");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->fim, FimLayout::kPsm);
  EXPECT_FALSE(model_config_to_json(*back).contains("fim"));
  for (const nlohmann::json& bad : {nlohmann::json("pms"), nlohmann::json(1), nlohmann::json(nullptr)}) {
    j["fim"] = bad;
    auto e = model_config_from_json(j, "config.json");
    ASSERT_FALSE(e.ok()) << bad.dump();
    EXPECT_NE(e.status().message().find("'fim'"), std::string::npos) << e.status().message();
  }
}

}  // namespace
}  // namespace mtpc
