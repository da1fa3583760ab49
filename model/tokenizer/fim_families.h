// Fill-in-the-middle templates of the model families we know, found by the
// marker tokens a tokenizer has. Torch-free.
//
// Each family names its three markers (with the spellings its tokenizers
// use), the order, and the tokens that end an infill. detect_fim() takes the
// first family whose three markers all exist in the tokenizer; families
// sharing markers (Qwen2.5-Coder and CodeGemma) differ only in stop tokens,
// and every listed stop that exists is used.
#pragma once

#include <string>
#include <vector>

#include "model/tokenizer/fim_template.h"

namespace mtpc {

class Tokenizer;

struct FimFamily {
  std::string name;  // "qwen2.5-coder", "codellama", ... (mtpc.json's "fim" names these)
  // Each marker: the spellings to try, first found wins.
  std::vector<std::string> prefix, suffix, middle;
  FimTemplate::Order order = FimTemplate::Order::kPrefixSuffixMiddle;
  std::vector<std::string> stops;  // end of infill / file / turn, where present
};

// In detection order.
const std::vector<FimFamily>& fim_families();
// Null if no family has that name.
const FimFamily* find_fim_family(const std::string& name);

struct DetectedFim {
  std::string family;          // "" when the tokenizer has no family's markers
  FimTemplate fim;             // markers filled in; `begin` left to the caller
  std::vector<int32_t> stops;  // the family's stop tokens this tokenizer has
};

// The first family whose markers `tokenizer` has (by Tokenizer::token_id).
DetectedFim detect_fim(const Tokenizer& tokenizer);
// That family's markers and stops in `tokenizer`; family "" if a marker is missing.
DetectedFim fim_for_family(const Tokenizer& tokenizer, const FimFamily& family);

}  // namespace mtpc
