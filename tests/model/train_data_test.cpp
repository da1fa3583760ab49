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

// Lines of 0-29 letters: text to cut holes in at line ends.
std::vector<uint16_t> text_lines(int n) {
  std::vector<uint16_t> v;
  uint64_t x = 42;
  while (static_cast<int>(v.size()) < n) {
    x = splitmix64(x);
    const int len = static_cast<int>(x % 30);
    for (int i = 0; i < len; ++i) v.push_back(static_cast<uint16_t>('a' + (x >> 8) % 26));
    v.push_back('\n');
  }
  v.resize(n);
  return v;
}

TEST(WindowSampler, LineAlignedHolesEndAfterANewlineAndSpanOneToEightLines) {
  ByteTokenizer tok;
  auto sp = tok.specials();
  auto s = WindowSampler::create(text_lines(20000), 200, 7, 1.0, sp, "t", FimLayout::kPsm,
                                 /*fim_line_rate=*/1.0, /*newline=*/'\n');
  ASSERT_TRUE(s.ok()) << s.status().message();
  int one_line = 0, at_line_start = 0, inside_line = 0, count = 0;
  for (uint64_t i = 0; i < 1000; ++i) {
    auto w = s->sample(i);
    ASSERT_EQ(w.size(), 200u);
    ASSERT_EQ(w[0], sp.fim_prefix);
    const auto suf = std::find(w.begin(), w.end(), sp.fim_suffix) - w.begin();
    const auto mid = std::find(w.begin(), w.end(), sp.fim_middle) - w.begin();
    ASSERT_LT(suf, mid);
    std::vector<int64_t> prefix(w.begin() + 1, w.begin() + suf), suffix(w.begin() + suf + 1, w.begin() + mid),
        middle(w.begin() + mid + 1, w.end());
    if (middle.empty()) continue;  // the hole began at the window's end
    ++count;
    const int64_t newlines = std::count(middle.begin(), middle.end(), '\n');
    if (!suffix.empty()) {
      // The hole closes just after a newline, so the suffix starts a line.
      ASSERT_EQ(middle.back(), '\n') << "window " << i;
      ASSERT_GE(newlines, 1);
    }
    ASSERT_LE(newlines, 8) << "window " << i;
    one_line += newlines == 1 && !suffix.empty();
    if (prefix.empty() || prefix.back() == '\n') ++at_line_start;
    else ++inside_line;
  }
  ASSERT_GT(count, 900);
  EXPECT_NEAR(one_line / static_cast<double>(count), 0.5, 0.07);
  EXPECT_GT(at_line_start, count / 3);  // half start their line (plus holes that began at one anyway)
  EXPECT_GT(inside_line, count / 4);    // the rest of a line being typed
}

TEST(WindowSampler, LineAlignedHolesMixWithSpansAndNeedANewline) {
  ByteTokenizer tok;
  auto sp = tok.specials();
  auto data = text_lines(20000);
  // Off: the windows of a run without the option, number for number.
  auto before = WindowSampler::create(data, 200, 7, 0.5, sp, "t", FimLayout::kSpm);
  auto off = WindowSampler::create(data, 200, 7, 0.5, sp, "t", FimLayout::kSpm, 0.0, '\n');
  ASSERT_TRUE(before.ok() && off.ok());
  for (uint64_t i = 0; i < 200; ++i) ASSERT_EQ(before->sample(i), off->sample(i));
  // Half of the spm holes line-aligned: the suffix (after PRE SUF) starts a
  // line in those, and spans end anywhere in the others.
  // Share of holes (with a suffix) whose middle's last token is a newline.
  auto closing_at_newline = [&](double line_rate) {
    auto s = WindowSampler::create(data, 200, 7, 1.0, sp, "t", FimLayout::kSpm, line_rate, '\n');
    EXPECT_TRUE(s.ok());
    int closes = 0, windows = 0;
    for (uint64_t i = 0; i < 1000; ++i) {
      auto w = s->sample(i);
      EXPECT_EQ(w.back(), sp.eos);
      const auto mid = std::find(w.begin(), w.end(), sp.fim_middle) - w.begin();
      if (mid == 2) continue;  // no suffix
      ++windows;
      closes += w[w.size() - 2] == '\n';  // the middle's last token
    }
    return closes / static_cast<double>(windows);
  };
  // Uniform spans close at a newline about as often as a token is one (1 in
  // 16 here); line-aligned ones always do; half and half lies between
  // (below the mean of the two: long line-aligned holes reach the window's
  // end more often and have no suffix then).
  EXPECT_LT(closing_at_newline(0.0), 0.12);
  EXPECT_EQ(closing_at_newline(1.0), 1.0);
  const double half = closing_at_newline(0.5);
  EXPECT_GT(half, 0.35);
  EXPECT_LT(half, 0.65);
  EXPECT_FALSE(WindowSampler::create(data, 200, 7, 0.5, sp, "t", FimLayout::kSpm, 0.5, /*newline=*/-1).ok());
  EXPECT_FALSE(WindowSampler::create(data, 200, 7, 0.5, sp, "t", FimLayout::kSpm, 1.5, '\n').ok());
}

}  // namespace
}  // namespace mtpc
