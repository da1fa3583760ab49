#include "model/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <random>

namespace mtpc {
namespace {

TEST(ByteTokenizer, RoundTripsRandomBytesIncludingInvalidUtf8) {
  ByteTokenizer tok;
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string s(rng() % 300, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    auto ids = tok.encode(s);
    ASSERT_EQ(ids.size(), s.size());
    for (auto id : ids) ASSERT_TRUE(id >= 0 && id < 256);
    auto back = tok.decode(ids);
    ASSERT_TRUE(back.ok()) << back.status().message();
    ASSERT_EQ(*back, s);
  }
  // Bytes that are never valid UTF-8, and NUL.
  std::string invalid("\xff\xfe\xc0\x80\x00\xed\xa0\x80", 8);
  EXPECT_EQ(*tok.decode(tok.encode(invalid)), invalid);
}

TEST(ByteTokenizer, SpecialsAreDistinctDroppedOnDecodeAndOutOfRangeIsAnError) {
  ByteTokenizer tok;
  auto sp = tok.specials();
  std::set<int32_t> ids = {sp.bos, sp.eos, sp.pad, sp.fim_prefix, sp.fim_suffix, sp.fim_middle};
  EXPECT_EQ(ids.size(), 6u);
  for (auto id : ids) {
    EXPECT_TRUE(tok.is_special(id));
    EXPECT_LT(id, tok.vocab_size());
  }
  EXPECT_EQ(*tok.decode({'a', sp.fim_middle, 'b', sp.eos}), "ab");
  auto bad = tok.decode({'a', 262});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("262"), std::string::npos);
  EXPECT_FALSE(tok.decode({-1}).ok());
}

TEST(ByteTokenizer, FactoryRejectsUnknownKinds) {
  ASSERT_TRUE(make_tokenizer("byte").ok());
  auto bad = make_tokenizer("bpe-32k");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bpe-32k"), std::string::npos);
}

TEST(ByteTokenizer, FimTemplateIsPrefixSuffixMiddleWithItsSpecials) {
  ByteTokenizer tok;
  const FimTemplate t = tok.fim_template();
  ASSERT_TRUE(t.available());
  EXPECT_EQ(t.order, FimTemplate::Order::kPrefixSuffixMiddle);
  EXPECT_EQ(t.prefix, std::vector<int32_t>{tok.specials().fim_prefix});
  EXPECT_EQ(t.suffix, std::vector<int32_t>{tok.specials().fim_suffix});
  EXPECT_EQ(t.middle, std::vector<int32_t>{tok.specials().fim_middle});
  EXPECT_TRUE(t.begin.empty());
  EXPECT_EQ(t.overhead_tokens(), 3u);
  // The layout the trainer's fill-in-the-middle windows use.
  EXPECT_EQ(t.layout(tok.encode("ab"), tok.encode("c"), true),
            (std::vector<int32_t>{ByteTokenizer::kFimPrefix, 'a', 'b', ByteTokenizer::kFimSuffix, 'c',
                                  ByteTokenizer::kFimMiddle}));
  EXPECT_EQ(t.layout(tok.encode("ab"), tok.encode("c"), false), (std::vector<int32_t>{'a', 'b'}));
}

TEST(ByteTokenizer, SpmModelsGetTheSuffixPrefixMiddleTemplate) {
  // A model trained with spm windows (ModelConfig::fim): PRE SUF suffix MID
  // prefix, the prefix last so that the middle continues it.
  auto tok = make_tokenizer("byte", FimTemplate::Order::kSuffixPrefixMiddle);
  ASSERT_TRUE(tok.ok());
  const FimTemplate t = (*tok)->fim_template();
  EXPECT_EQ(t.order, FimTemplate::Order::kSuffixPrefixMiddle);
  EXPECT_EQ(t.overhead_tokens(), 3u);
  EXPECT_EQ(t.layout((*tok)->encode("ab"), (*tok)->encode("c"), true),
            (std::vector<int32_t>{ByteTokenizer::kFimPrefix, ByteTokenizer::kFimSuffix, 'c', ByteTokenizer::kFimMiddle,
                                  'a', 'b'}));
  // Its middle ends with EOS: a stop id.
  EXPECT_EQ((*tok)->stop_ids(), std::vector<int32_t>{ByteTokenizer::kEos});
  EXPECT_EQ((*make_tokenizer("byte"))->fim_template().order, FimTemplate::Order::kPrefixSuffixMiddle);
}

}  // namespace
}  // namespace mtpc
