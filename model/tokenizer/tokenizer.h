// Tokenizers: text <-> token ids. Torch-free.
//
// The model sees only ids below vocab_size(); which ids are special is the
// tokenizer's business, so a BPE tokenizer can implement this interface later
// without touching the model. Implementations are immutable and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/tokenizer/fim_template.h"

namespace mtpc {

struct SpecialTokens {
  int32_t bos, eos, pad, fim_prefix, fim_suffix, fim_middle;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;
  virtual int vocab_size() const = 0;
  virtual SpecialTokens specials() const = 0;
  // Any byte string, invalid UTF-8 included, encodes without loss.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Special ids are dropped; ids outside the vocabulary are an error.
  virtual Result<std::string> decode(const std::vector<int32_t>& ids) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  // The model's fill-in-the-middle template; empty (no FIM) unless the
  // tokenizer has the markers.
  virtual FimTemplate fim_template() const { return {}; }
};

// 256 byte ids, then BOS 256, EOS 257, PAD 258, FIM prefix 259, FIM suffix 260,
// FIM middle 261.
class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr int32_t kBos = 256, kEos = 257, kPad = 258;
  static constexpr int32_t kFimPrefix = 259, kFimSuffix = 260, kFimMiddle = 261;
  static constexpr int kVocabSize = 262;

  std::string kind() const override { return "byte"; }
  int vocab_size() const override { return kVocabSize; }
  SpecialTokens specials() const override {
    return {kBos, kEos, kPad, kFimPrefix, kFimSuffix, kFimMiddle};
  }
  std::vector<int32_t> encode(std::string_view text) const override;
  Result<std::string> decode(const std::vector<int32_t>& ids) const override;
  bool is_special(int32_t id) const override { return id >= 256 && id < kVocabSize; }
  // Prefix-suffix-middle with the three FIM ids, as the trainer lays out
  // fill-in-the-middle windows.
  FimTemplate fim_template() const override {
    FimTemplate t;
    t.prefix = {kFimPrefix};
    t.suffix = {kFimSuffix};
    t.middle = {kFimMiddle};
    t.order = FimTemplate::Order::kPrefixSuffixMiddle;
    return t;
  }
};

// "byte" -> ByteTokenizer; anything else is an error naming the kind.
Result<std::shared_ptr<const Tokenizer>> make_tokenizer(const std::string& kind);

}  // namespace mtpc
