// Training windows from a packed token file. Torch-free.
//
// Windows are a pure function of (seed, sample index), so a resumed run sees
// exactly the windows an uninterrupted run would, with no sampler state to
// save. A window is `length` tokens; with fill-in-the-middle it is rewritten
// with the FIM specials and keeps its length: prefix-suffix-middle
// (FimLayout::kPsm, the middle running to the window's end) or
// suffix-prefix-middle (kSpm: PRE SUF suffix MID prefix middle EOS).
//
// Where the middle lies: by default two uniform points of the window (spans
// of any length, starting and ending anywhere). With `fim_line_rate` > 0,
// that share of the FIM windows cut the middle the way an editor's holes
// are cut instead: it ends just after a newline, holds 1 line (half of
// them), 2 (a quarter) or 3-8 lines, and starts either at the beginning of
// its first line or anywhere inside it (the rest of a line being typed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/network/config.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc {

class WindowSampler {
 public:
  // `tokens` must hold at least `length` ids (checked by create).
  static Result<WindowSampler> create(std::vector<uint16_t> tokens, int64_t length, uint64_t seed,
                                      double fim_rate, SpecialTokens specials,
                                      const std::string& source, FimLayout layout = FimLayout::kPsm,
                                      double fim_line_rate = 0, int64_t newline = -1);

  // Random window for global sample number `index` (FIM at the set rate).
  std::vector<int64_t> sample(uint64_t index) const;
  // The k-th of the consecutive non-overlapping windows, no FIM (validation).
  std::vector<int64_t> sequential(int64_t k) const;
  int64_t sequential_count() const;

  int64_t token_count() const { return static_cast<int64_t>(tokens_.size()); }

 private:
  WindowSampler() = default;
  std::vector<uint16_t> tokens_;
  int64_t length_ = 0;
  uint64_t seed_ = 0;
  double fim_rate_ = 0;
  SpecialTokens specials_{};
  FimLayout layout_ = FimLayout::kPsm;
  double fim_line_rate_ = 0;
  int64_t newline_ = -1;
};

// A counter-based generator: the n-th value of stream `key`.
uint64_t splitmix64(uint64_t x);

}  // namespace mtpc
