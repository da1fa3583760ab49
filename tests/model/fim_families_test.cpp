#include "model/tokenizer/fim_families.h"

#include <gtest/gtest.h>

#include <map>

#include "model/tokenizer/tokenizer.h"

namespace mtpc {
namespace {

// A vocabulary of named tokens only: enough for marker lookups.
class NamedTokens final : public Tokenizer {
 public:
  explicit NamedTokens(std::vector<std::string> names) : names_(std::move(names)) {}
  std::string kind() const override { return "named"; }
  int vocab_size() const override { return static_cast<int>(names_.size()); }
  SpecialTokens specials() const override { return {}; }
  std::vector<int32_t> encode(std::string_view) const override { return {}; }
  Result<std::string> decode(const std::vector<int32_t>&) const override { return std::string(); }
  bool is_special(int32_t) const override { return true; }
  int32_t token_id(std::string_view piece) const override {
    for (size_t i = 0; i < names_.size(); ++i)
      if (names_[i] == piece) return static_cast<int32_t>(i);
    return -1;
  }

 private:
  std::vector<std::string> names_;
};

TEST(FimFamilies, QwenMarkersAndOnlyTheStopsPresent) {
  NamedTokens tok({"a", "<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|im_end|>"});
  DetectedFim d = detect_fim(tok);
  EXPECT_EQ(d.family, "qwen2.5-coder");
  EXPECT_EQ(d.fim.prefix, std::vector<int32_t>{2});
  EXPECT_EQ(d.fim.suffix, std::vector<int32_t>{4});
  EXPECT_EQ(d.fim.middle, std::vector<int32_t>{3});
  EXPECT_EQ(d.stops, (std::vector<int32_t>{1, 5}));
}

TEST(FimFamilies, CodeLlamaSpellingWithWordStartMark) {
  NamedTokens tok({"<s>", "\xE2\x96\x81<PRE>", "\xE2\x96\x81<SUF>", "\xE2\x96\x81<MID>", "\xE2\x96\x81<EOT>"});
  DetectedFim d = detect_fim(tok);
  EXPECT_EQ(d.family, "codellama");
  EXPECT_EQ(d.fim.layout({10}, {20}, true), (std::vector<int32_t>{1, 10, 2, 20, 3}));
  EXPECT_EQ(d.stops, std::vector<int32_t>{4});
}

TEST(FimFamilies, DeepSeekFullwidthMarkers) {
  NamedTokens tok({"<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>",
                   "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<|EOT|>"});
  DetectedFim d = detect_fim(tok);
  EXPECT_EQ(d.family, "deepseek-coder");
  EXPECT_EQ(d.fim.prefix, std::vector<int32_t>{1});
  EXPECT_EQ(d.fim.suffix, std::vector<int32_t>{0});
  EXPECT_EQ(d.fim.middle, std::vector<int32_t>{2});
  EXPECT_EQ(d.stops, std::vector<int32_t>{3});
}

TEST(FimFamilies, IncompleteMarkersMeanNoFim) {
  // Two of StarCoder's three markers: not a template.
  NamedTokens tok({"<fim_prefix>", "<fim_suffix>", "<|endoftext|>"});
  DetectedFim d = detect_fim(tok);
  EXPECT_EQ(d.family, "");
  EXPECT_FALSE(d.fim.available());
  EXPECT_TRUE(d.stops.empty());
  ASSERT_NE(find_fim_family("starcoder"), nullptr);
  EXPECT_EQ(find_fim_family("nonesuch"), nullptr);
}

}  // namespace
}  // namespace mtpc
