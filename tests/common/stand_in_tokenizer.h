// A torch-free Tokenizer for stand-in models (the completer tests, the LSP
// fuzzer, which links nothing of model/): bytes are ids 0-255, specials
// 256-261 as the byte model numbers them, and the fill-in-the-middle
// template is the caller's to set (none by default; byte_psm() is the byte
// model's).
#pragma once

#include <string>
#include <vector>

#include "model/tokenizer/tokenizer.h"

namespace mtpc::testing {

// The byte model's template: <fim_prefix>=259 <fim_suffix>=260 <fim_middle>=261.
inline FimTemplate byte_psm() {
  FimTemplate t;
  t.prefix = {259};
  t.suffix = {260};
  t.middle = {261};
  return t;
}

class StandInTokenizer final : public Tokenizer {
 public:
  FimTemplate fim;

  std::string kind() const override { return "stand-in-bytes"; }
  int vocab_size() const override { return 262; }
  SpecialTokens specials() const override { return {256, 257, 258, 259, 260, 261}; }
  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int32_t> ids;
    for (char c : text) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  }
  Result<std::string> decode(const std::vector<int32_t>& ids) const override {
    std::string out;
    for (int32_t id : ids)
      if (id >= 0 && id < 256) out.push_back(static_cast<char>(id));
    return out;
  }
  bool is_special(int32_t id) const override { return id >= 256; }
  FimTemplate fim_template() const override { return fim; }
};

}  // namespace mtpc::testing
