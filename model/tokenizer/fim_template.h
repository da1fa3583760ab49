// How a model was trained to fill in the middle: its marker tokens and the
// order of the pieces. Each tokenizer knows its own (Tokenizer::fim_template);
// prompt builders ask it instead of naming marker ids. Torch-free.
//
//   kPrefixSuffixMiddle (PSM):  begin PRE prefix SUF suffix MID   -> middle
//   kSuffixPrefixMiddle (SPM):  begin PRE SUF suffix MID prefix   -> middle
//
// (SPM as in Bavarian et al. 2022 and CodeLlama: both markers first, then
// the suffix, then the prefix right before the middle.) A model without
// fill-in-the-middle has an empty template: the suffix is dropped and the
// prompt is `begin` followed by the prefix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mtpc {

struct FimTemplate {
  enum class Order { kPrefixSuffixMiddle, kSuffixPrefixMiddle };

  // Marker token sequences (one id each for every model we know); all three
  // empty when the model has no fill-in-the-middle.
  std::vector<int32_t> prefix, suffix, middle;
  Order order = Order::kPrefixSuffixMiddle;
  // Tokens before everything, FIM or not (e.g. a BOS the model expects);
  // empty for mtpc's byte models.
  std::vector<int32_t> begin;

  bool available() const { return !prefix.empty() && !suffix.empty() && !middle.empty(); }
  // Tokens a prompt spends on the template itself (begin and the markers):
  // what a prompt budget must leave room for.
  size_t overhead_tokens() const {
    return begin.size() + (available() ? prefix.size() + suffix.size() + middle.size() : 0);
  }

  // The prompt ids around already tokenized prefix and suffix. With `fim`
  // false or no template, the suffix is dropped.
  std::vector<int32_t> layout(const std::vector<int32_t>& prefix_ids, const std::vector<int32_t>& suffix_ids,
                              bool fim) const {
    std::vector<int32_t> out(begin);
    auto add = [&out](const std::vector<int32_t>& ids) { out.insert(out.end(), ids.begin(), ids.end()); };
    if (!fim || !available()) {
      add(prefix_ids);
      return out;
    }
    if (order == Order::kPrefixSuffixMiddle) {
      add(prefix), add(prefix_ids), add(suffix), add(suffix_ids), add(middle);
    } else {
      add(prefix), add(suffix), add(suffix_ids), add(middle), add(prefix_ids);
    }
    return out;
  }
};

}  // namespace mtpc
