// `mtpc tokenize`: the ids and pieces a model directory's tokenizer gives a
// text, as llama.cpp's llama-tokenize prints them. Torch-free.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace mtpc {

// Loads the tokenizer of `model_dir` (load_model_tokenizer) and encodes
// `text` (no BOS). Plain: one line per token, `ID -> 'piece'`, the piece's
// raw bytes with \n, \t, \r, \\, \' and \xNN (bytes that are not printable
// or not valid UTF-8) escaped; special tokens show as <special>. JSON
// (`json`): {"ids": [...], "pieces": [...], "special": [...]}, each piece
// the token's bytes as a string ("" for special tokens), bytes that are not
// valid UTF-8 written as the four characters \xNN so the output stays valid
// JSON. Errors: the loader's, naming the file and field.
Result<std::string> list_tokens(const std::string& model_dir, std::string_view text, bool json);

}  // namespace mtpc
