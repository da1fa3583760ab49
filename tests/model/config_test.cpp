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
