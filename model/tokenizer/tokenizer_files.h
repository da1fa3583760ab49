// The tokenizer of a model directory, chosen from the files it holds
// (not from tokenizer_config.json's tokenizer_class: DeepSeek-Coder says
// LlamaTokenizerFast and ships a byte-level BPE). Torch-free.
//
//   tokenizer.json with a byte-level BPE model  -> BpeTokenizer
//   otherwise tokenizer.model                   -> SentencePiece
//   config.json {"format": "mtpc-checkpoint"}   -> make_tokenizer(its "tokenizer")
//
// tokenizer_config.json (add_bos_token, bos_token, eos_token) and
// generation_config.json (eos_token_id: int or list) fill in
// TokenizerFileOptions; an optional mtpc.json overrides the FIM family and
// adds stop tokens. Every error names the file and the field.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/tokenizer/fim_template.h"
#include "model/tokenizer/tokenizer.h"

namespace mtpc {

class Tokenizer;

// What a model directory says about its tokenizer beyond the tokenizer file
// itself; each loader (BPE, SentencePiece) takes one.
struct TokenizerFileOptions {
  // Whether prompts start with BOS (tokenizer_config.json's add_bos_token;
  // the loader's family default when absent). encode() never adds it: it
  // goes into fim_template().begin.
  bool add_bos = false;
  // Token contents (e.g. "<s>", "<|endoftext|>"); "" = the tokenizer file's own.
  std::string bos_token, eos_token;
  // More ids that end a generation (generation_config.json's eos_token_id,
  // mtpc.json's "stop"), on top of EOS and the FIM family's stops.
  std::vector<int32_t> extra_stop_ids;
  // mtpc.json's "stop": token contents, resolved by the loader (an unknown
  // one is an error naming mtpc.json).
  std::vector<std::string> extra_stop_tokens;
  // mtpc.json's "fim": "" = detect from the tokenizer's tokens, "none" = no
  // FIM, else a family name from fim_families.h.
  std::string fim_family;
  // For error messages: the file the options came from.
  std::string source = "tokenizer_config.json";
};

// What a loader derives from a tokenizer it built and the options: BOS/EOS
// ids (-1 absent), the FIM template (`begin` = {bos} when add_bos) and the
// stop ids (EOS, extra_stop_ids, extra_stop_tokens, the FIM family's stops;
// no duplicates). Errors: a bos/eos token the tokenizer lacks (naming
// options.source), an unknown FIM family or stop token (naming mtpc.json).
struct TokenizerEnds {
  int32_t bos = -1, eos = -1;
  FimTemplate fim;
  std::vector<int32_t> stops;
};
Result<TokenizerEnds> resolve_tokenizer_ends(const Tokenizer& tokenizer, const TokenizerFileOptions& options);
// Tokenizer::specials() of a tokenizer whose ends these are.
SpecialTokens special_tokens(const TokenizerEnds& ends);

// The tokenizer of model directory `dir`.
Result<std::shared_ptr<const Tokenizer>> load_model_tokenizer(const std::string& dir);

// Reads tokenizer_config.json, generation_config.json and mtpc.json in
// `dir` (each optional); `default_add_bos` applies when add_bos_token is absent.
Result<TokenizerFileOptions> read_tokenizer_file_options(const std::string& dir, bool default_add_bos);

}  // namespace mtpc
