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

// Ids of the tokenizer's special tokens; -1 where it has none (a Qwen
// tokenizer has no BOS, most have no PAD, plain Llama has no FIM markers).
struct SpecialTokens {
  int32_t bos = -1, eos = -1, pad = -1, fim_prefix = -1, fim_suffix = -1, fim_middle = -1;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;
  virtual int vocab_size() const = 0;
  virtual SpecialTokens specials() const = 0;
  // Any byte string, invalid UTF-8 included, encodes without loss.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Text that continues earlier text (a FIM suffix, a piece after a
  // marker): no BOS and no leading-space marker that SentencePiece puts in
  // front of a text's start. Same as encode() for byte-level tokenizers.
  virtual std::vector<int32_t> encode_continuation(std::string_view text) const { return encode(text); }
  // The raw bytes of the tokens, concatenated: special ids are dropped and
  // ids outside the vocabulary are an error. Incremental and byte-exact:
  // decode(a + b) == decode(a) + decode(b) for any split (no text-level
  // clean-up, no U+FFFD for a token that ends inside a UTF-8 character), so
  // stop strings, typed-ahead and streaming may decode token by token.
  virtual Result<std::string> decode(const std::vector<int32_t>& ids) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  // The id of the token the vocabulary spells `piece` (special and added
  // tokens by their content, e.g. "<|fim_prefix|>"); -1 if there is none.
  virtual int32_t token_id(std::string_view piece) const { (void)piece; return -1; }
  // Ids that end a generation: EOS plus end-of-turn/end-of-infill tokens
  // the model family uses (<|im_end|>, <EOT>, ...).
  virtual std::vector<int32_t> stop_ids() const {
    const int32_t eos = specials().eos;
    return eos >= 0 ? std::vector<int32_t>{eos} : std::vector<int32_t>{};
  }
  // The model's fill-in-the-middle template; empty (no FIM) unless the
  // tokenizer has the markers.
  virtual FimTemplate fim_template() const { return {}; }
};

// A whole prompt: the tokens every prompt of the model starts with
// (fim_template().begin: BOS for Llama-family models, nothing for mtpc's
// byte models and Qwen), then encode(text).
inline std::vector<int32_t> encode_prompt(const Tokenizer& tokenizer, std::string_view text) {
  std::vector<int32_t> ids = tokenizer.fim_template().begin;
  const std::vector<int32_t> body = tokenizer.encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

// 256 byte ids, then BOS 256, EOS 257, PAD 258, FIM prefix 259, FIM suffix 260,
// FIM middle 261.
class ByteTokenizer final : public Tokenizer {
 public:
  // `fim_order`: the layout the model was trained on (ModelConfig::fim:
  // psm models the prefix-suffix-middle, spm ones suffix-prefix-middle).
  explicit ByteTokenizer(FimTemplate::Order fim_order = FimTemplate::Order::kPrefixSuffixMiddle)
      : fim_order_(fim_order) {}
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
  int32_t token_id(std::string_view piece) const override;
  // The three FIM ids in the order the trainer laid out the model's
  // fill-in-the-middle windows (an spm model's middle ends with EOS, a stop id).
  FimTemplate fim_template() const override {
    FimTemplate t;
    t.prefix = {kFimPrefix};
    t.suffix = {kFimSuffix};
    t.middle = {kFimMiddle};
    t.order = fim_order_;
    return t;
  }

 private:
  FimTemplate::Order fim_order_;
};

// "byte" -> ByteTokenizer (with `fim_order`); anything else is an error
// naming the kind.
Result<std::shared_ptr<const Tokenizer>> make_tokenizer(
    const std::string& kind, FimTemplate::Order fim_order = FimTemplate::Order::kPrefixSuffixMiddle);

}  // namespace mtpc
