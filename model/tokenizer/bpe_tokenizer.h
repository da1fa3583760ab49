// Byte-level BPE read from a Hugging Face tokenizer.json (Qwen2/2.5/3,
// Llama-3, DeepSeek-Coder, StarCoder, SmolLM2). Torch-free.
//
// Supported, as the Hugging Face `tokenizers` library runs them:
//   model         BPE: vocab, merges as "a b" or ["a", "b"], ignore_merges
//   added_tokens  split out of the raw input first (leftmost, longest;
//                 lstrip/rstrip/single_word); `special` ones are is_special.
//                 All are matched on the raw text (tokenizers matches
//                 "normalized": true ones after NFC; the same unless NFC
//                 changes the token's own text)
//   normalizer    null, NFC, or a Sequence of those (ICU)
//   pre_tokenizer Split (Regex or String pattern, every behavior, invert),
//                 Digits, ByteLevel (add_prefix_space, use_regex with the
//                 GPT-2 pattern), or a Sequence of those; regexes run on
//                 PCRE2 with UTF, UCP and MATCH_INVALID_UTF
// Anything else is an error naming the file and the field (a WordPiece or
// Unigram model, an NFKC normalizer, a Metaspace pre-tokenizer, ...).
//
// Any byte string encodes, invalid UTF-8 included: bytes that are not valid
// UTF-8 skip normalization and regexes (they match nothing, so each stands
// between pieces) and still go through the byte-level BPE, so
// decode(encode(x)) == x whenever normalization leaves x unchanged.
// encode() never adds BOS (post_processor templates are not applied): the
// prompt's BOS comes from fim_template().begin. decode() concatenates the
// tokens' raw bytes; special tokens decode to nothing, non-special added
// tokens to their content.
//
// Immutable after construction and thread-safe: the merge cache is behind a
// mutex.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "base/status.h"
#include "model/tokenizer/tokenizer.h"
#include "model/tokenizer/tokenizer_files.h"

namespace mtpc {

// True when `doc` is a BPE model with a ByteLevel pre-tokenizer (alone or in
// a Sequence): the kind this file reads.
bool is_byte_level_bpe(const nlohmann::json& doc);

// The tokenizer in `doc`, parsed from file `path` (named in errors).
// `options` supplies BOS/EOS contents, extra stops and the FIM override.
Result<std::shared_ptr<const Tokenizer>> make_bpe_tokenizer(const nlohmann::json& doc, const std::string& path,
                                                            const TokenizerFileOptions& options);

// Reads and parses `path`, then make_bpe_tokenizer.
Result<std::shared_ptr<const Tokenizer>> load_bpe_tokenizer(const std::string& path,
                                                            const TokenizerFileOptions& options);

}  // namespace mtpc
