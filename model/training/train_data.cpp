#include "model/training/train_data.h"

namespace mtpc {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Result<WindowSampler> WindowSampler::create(std::vector<uint16_t> tokens, int64_t length,
                                            uint64_t seed, double fim_rate, SpecialTokens specials,
                                            const std::string& source, FimLayout layout,
                                            double fim_line_rate, int64_t newline) {
  if (length < 4) return Status::Error("window length must be >= 4");
  if (layout == FimLayout::kSpm && length < 5) return Status::Error("suffix-prefix-middle windows must be >= 5 tokens long");
  if (fim_rate > 0 && layout == FimLayout::kSpm && specials.eos < 0)
    return Status::Error("suffix-prefix-middle windows need an EOS token to end the middle");
  if (!(fim_line_rate >= 0 && fim_line_rate <= 1)) return Status::Error("fim_line_rate must be in [0, 1]");
  if (fim_line_rate > 0 && newline < 0)
    return Status::Error("line-aligned fill-in-the-middle needs the tokenizer's newline token");
  if (static_cast<int64_t>(tokens.size()) < length)
    return Status::Error(source + ": " + std::to_string(tokens.size()) +
                         " tokens, fewer than one training window of " + std::to_string(length));
  WindowSampler s;
  s.tokens_ = std::move(tokens);
  s.length_ = length;
  s.seed_ = seed;
  s.fim_rate_ = fim_rate;
  s.specials_ = specials;
  s.layout_ = layout;
  s.fim_line_rate_ = fim_line_rate;
  s.newline_ = newline;
  return s;
}

std::vector<int64_t> WindowSampler::sample(uint64_t index) const {
  uint64_t state = splitmix64(seed_ ^ splitmix64(index));
  auto next = [&state]() { return state = splitmix64(state); };
  const uint64_t span = tokens_.size() - length_ + 1;
  const uint64_t offset = next() % span;
  const bool fim = static_cast<double>(next() >> 11) * 0x1.0p-53 < fim_rate_;
  std::vector<int64_t> out;
  out.reserve(length_);
  if (!fim) {
    for (int64_t i = 0; i < length_; ++i) out.push_back(tokens_[offset + i]);
    return out;
  }
  // Prefix-suffix-middle: three specials take the place of three tokens;
  // suffix-prefix-middle four (EOS ends the middle).
  const bool spm = layout_ == FimLayout::kSpm;
  const int64_t n = length_ - (spm ? 4 : 3);
  auto at = [&](int64_t i) { return static_cast<int64_t>(tokens_[offset + i]); };
  int64_t a = static_cast<int64_t>(next() % (n + 1)), b = static_cast<int64_t>(next() % (n + 1));
  if (a > b) std::swap(a, b);
  // Line-aligned holes draw more numbers only when enabled, so windows of
  // runs without them stay what they were.
  if (fim_line_rate_ > 0 && static_cast<double>(next() >> 11) * 0x1.0p-53 < fim_line_rate_) {
    const uint64_t r = next();
    a = static_cast<int64_t>(r % (n + 1));
    if ((r >> 32) & 1)  // from the start of the line
      while (a > 0 && at(a - 1) != newline_) --a;
    const uint64_t pick = (r >> 33) & 3;
    const int64_t lines = pick < 2 ? 1 : pick == 2 ? 2 : 3 + static_cast<int64_t>((r >> 35) % 6);
    b = a;
    for (int64_t l = 0; l < lines && b < n; ++l) {
      while (b < n && at(b) != newline_) ++b;
      if (b < n) ++b;  // the newline belongs to the middle
    }
  }
  if (spm) {
    out.push_back(specials_.fim_prefix);
    out.push_back(specials_.fim_suffix);
    for (int64_t i = b; i < n; ++i) out.push_back(at(i));
    out.push_back(specials_.fim_middle);
    for (int64_t i = 0; i < b; ++i) out.push_back(at(i));
    out.push_back(specials_.eos);
    return out;
  }
  out.push_back(specials_.fim_prefix);
  for (int64_t i = 0; i < a; ++i) out.push_back(at(i));
  out.push_back(specials_.fim_suffix);
  for (int64_t i = b; i < n; ++i) out.push_back(at(i));
  out.push_back(specials_.fim_middle);
  for (int64_t i = a; i < b; ++i) out.push_back(at(i));
  return out;
}

int64_t WindowSampler::sequential_count() const {
  return static_cast<int64_t>(tokens_.size()) / length_;
}

std::vector<int64_t> WindowSampler::sequential(int64_t k) const {
  const int64_t offset = (k % sequential_count()) * length_;
  return std::vector<int64_t>(tokens_.begin() + offset, tokens_.begin() + offset + length_);
}

}  // namespace mtpc
