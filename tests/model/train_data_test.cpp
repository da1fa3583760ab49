#include "model/training/train_data.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace mtpc {
namespace {

std::vector<uint16_t> ramp(int n) {
  std::vector<uint16_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = static_cast<uint16_t>(i % 250);
  return v;
}

TEST(WindowSampler, SameIndexSameWindowAndWindowsAreSlicesOfTheData) {
  ByteTokenizer tok;
  auto s = WindowSampler::create(ramp(5000), 40, 7, 0.0, tok.specials(), "t");
  ASSERT_TRUE(s.ok());
  for (uint64_t i = 0; i < 100; ++i) {
    auto w = s->sample(i);
    ASSERT_EQ(w, s->sample(i));
    ASSERT_EQ(w.size(), 40u);
    for (size_t k = 1; k < w.size(); ++k) ASSERT_EQ(w[k], (w[k - 1] + 1) % 250);
  }
  EXPECT_NE(s->sample(1), s->sample(2));
  auto other_seed = WindowSampler::create(ramp(5000), 40, 8, 0.0, tok.specials(), "t");
  EXPECT_NE(s->sample(1), other_seed->sample(1));
}

TEST(WindowSampler, FimWindowsArePrefixSuffixMiddleOfOneSlice) {
  ByteTokenizer tok;
  auto sp = tok.specials();
  auto s = WindowSampler::create(ramp(5000), 40, 7, 1.0, sp, "t");
  ASSERT_TRUE(s.ok());
  for (uint64_t i = 0; i < 200; ++i) {
    auto w = s->sample(i);
    ASSERT_EQ(w.size(), 40u);
    ASSERT_EQ(w[0], sp.fim_prefix);
    auto suf = std::find(w.begin(), w.end(), sp.fim_suffix) - w.begin();
    auto mid = std::find(w.begin(), w.end(), sp.fim_middle) - w.begin();
    ASSERT_LT(suf, mid);
    ASSERT_LT(mid, 40);
    // prefix + middle + suffix is a contiguous ramp of 37 tokens.
    std::vector<int64_t> doc(w.begin() + 1, w.begin() + suf);
    doc.insert(doc.end(), w.begin() + mid + 1, w.end());
    doc.insert(doc.end(), w.begin() + suf + 1, w.begin() + mid);
    ASSERT_EQ(doc.size(), 37u);
    for (size_t k = 1; k < doc.size(); ++k) ASSERT_EQ(doc[k], (doc[k - 1] + 1) % 250) << "window " << i;
  }
}

TEST(WindowSampler, SpmWindowsAreSuffixThenPrefixAndMiddleEndedByEos) {
  ByteTokenizer tok;
  auto sp = tok.specials();
  auto s = WindowSampler::create(ramp(5000), 40, 7, 1.0, sp, "t", FimLayout::kSpm);
  ASSERT_TRUE(s.ok());
  int empty_suffix = 0;
  for (uint64_t i = 0; i < 300; ++i) {
    auto w = s->sample(i);
    ASSERT_EQ(w.size(), 40u);
    ASSERT_EQ(w[0], sp.fim_prefix);
    ASSERT_EQ(w[1], sp.fim_suffix);
    ASSERT_EQ(w.back(), sp.eos) << "window " << i;
    auto mid = std::find(w.begin(), w.end(), sp.fim_middle) - w.begin();
    ASSERT_LT(mid, 39);
    // PRE SUF suffix MID prefix+middle EOS: prefix+middle then the suffix is
    // a contiguous ramp of 36 tokens.
    std::vector<int64_t> doc(w.begin() + mid + 1, w.end() - 1);
    doc.insert(doc.end(), w.begin() + 2, w.begin() + mid);
    ASSERT_EQ(doc.size(), 36u);
    for (size_t k = 1; k < doc.size(); ++k) ASSERT_EQ(doc[k], (doc[k - 1] + 1) % 250) << "window " << i;
    empty_suffix += mid == 2;
  }
  EXPECT_GT(empty_suffix, 0);  // holes at the window's end happen
  // Not a FIM window: the plain slice, as for psm.
  auto plain = WindowSampler::create(ramp(5000), 40, 7, 0.0, sp, "t", FimLayout::kSpm);
  ASSERT_TRUE(plain.ok());
  EXPECT_NE(plain->sample(3)[0], sp.fim_prefix);
  // spm needs an EOS and room for four specials.
  SpecialTokens no_eos = sp;
  no_eos.eos = -1;
  EXPECT_FALSE(WindowSampler::create(ramp(5000), 40, 7, 0.5, no_eos, "t", FimLayout::kSpm).ok());
  EXPECT_FALSE(WindowSampler::create(ramp(5000), 4, 7, 0.5, sp, "t", FimLayout::kSpm).ok());
}

TEST(WindowSampler, FimRateIsRespected) {
  ByteTokenizer tok;
  auto s = WindowSampler::create(ramp(5000), 40, 3, 0.5, tok.specials(), "t");
  int fim = 0;
  for (uint64_t i = 0; i < 2000; ++i) fim += s->sample(i)[0] == tok.specials().fim_prefix;
  EXPECT_NEAR(fim / 2000.0, 0.5, 0.05);
}

TEST(WindowSampler, TooLittleDataIsAnErrorNamingTheSource) {
  ByteTokenizer tok;
  auto s = WindowSampler::create(ramp(10), 40, 3, 0.5, tok.specials(), "data/train.bin");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("data/train.bin"), std::string::npos);
}

TEST(WindowSampler, SequentialWindowsTileTheData) {
  ByteTokenizer tok;
  auto s = WindowSampler::create(ramp(100), 30, 3, 0.0, tok.specials(), "v");
  EXPECT_EQ(s->sequential_count(), 3);
  EXPECT_EQ(s->sequential(1)[0], 30);
  EXPECT_EQ(s->sequential(4), s->sequential(1));  // wraps
}

}  // namespace
}  // namespace mtpc
