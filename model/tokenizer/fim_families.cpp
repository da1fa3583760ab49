#include "model/tokenizer/fim_families.h"

#include "model/tokenizer/tokenizer.h"

namespace mtpc {

const std::vector<FimFamily>& fim_families() {
  using O = FimTemplate::Order;
  // Marker spellings as the released tokenizers spell them: CodeLlama's
  // SentencePiece vocabulary has "▁<PRE>" (with the word-start mark),
  // DeepSeek-Coder's markers use fullwidth bars and U+2581.
  static const std::vector<FimFamily> families = {
      {"qwen2.5-coder", {"<|fim_prefix|>"}, {"<|fim_suffix|>"}, {"<|fim_middle|>"}, O::kPrefixSuffixMiddle,
       {"<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>", "<|file_separator|>"}},
      {"starcoder", {"<fim_prefix>"}, {"<fim_suffix>"}, {"<fim_middle>"}, O::kPrefixSuffixMiddle,
       {"<|endoftext|>", "<file_sep>", "<fim_pad>"}},
      {"codellama", {"\xE2\x96\x81<PRE>", "<PRE>"}, {"\xE2\x96\x81<SUF>", "<SUF>"}, {"\xE2\x96\x81<MID>", "<MID>"},
       O::kPrefixSuffixMiddle, {"\xE2\x96\x81<EOT>", "<EOT>"}},
      {"deepseek-coder",
       {"<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>"},
       {"<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>"},
       {"<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>"},
       O::kPrefixSuffixMiddle, {"<|EOT|>", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"}},
  };
  return families;
}

const FimFamily* find_fim_family(const std::string& name) {
  for (const auto& f : fim_families())
    if (f.name == name) return &f;
  return nullptr;
}

DetectedFim fim_for_family(const Tokenizer& tokenizer, const FimFamily& family) {
  auto first = [&tokenizer](const std::vector<std::string>& spellings) {
    for (const auto& s : spellings)
      if (int32_t id = tokenizer.token_id(s); id >= 0) return id;
    return int32_t{-1};
  };
  DetectedFim d;
  const int32_t pre = first(family.prefix), suf = first(family.suffix), mid = first(family.middle);
  if (pre < 0 || suf < 0 || mid < 0) return d;
  d.family = family.name;
  d.fim.prefix = {pre};
  d.fim.suffix = {suf};
  d.fim.middle = {mid};
  d.fim.order = family.order;
  for (const auto& s : family.stops)
    if (int32_t id = tokenizer.token_id(s); id >= 0) d.stops.push_back(id);
  return d;
}

DetectedFim detect_fim(const Tokenizer& tokenizer) {
  for (const auto& f : fim_families()) {
    DetectedFim d = fim_for_family(tokenizer, f);
    if (!d.family.empty()) return d;
  }
  return {};
}

}  // namespace mtpc
