// SentencePiece tokenizer.model files (Llama-2, CodeLlama, Meta's
// multi-token release), encoded by Debian's libsentencepiece. Torch-free.
//
// The library is reached through a shim loaded at run time
// (sentencepiece_shim/sentencepiece_shim.h says why): the first load looks
// for libmtpc_sentencepiece.so in $MTPC_SENTENCEPIECE_SHIM, beside the
// running executable, then in the build tree it was built in.
//
// encode() is the library's encoding of the text (the model's normalizer
// and its dummy prefix "\xE2\x96\x81" in front); encode_continuation() the
// same without the dummy prefix, as CodeLlama encodes an infilling suffix.
// Any byte string encodes: bytes that are not valid UTF-8 become byte
// tokens (<0xNN>) where the model has them, else the unknown token, and the
// valid runs between them are encoded as continuations (a text that starts
// with such a byte still gets the dummy prefix in front, so with byte
// fallback decode(encode(x)) == " " + x for any x that is not empty and
// that the model's normalizer leaves alone). Neither adds BOS;
// the prompt's BOS comes from fim_template().begin.
// decode() concatenates the pieces' bytes ("\xE2\x96\x81" as a space, byte
// pieces as their byte; control and unknown pieces as nothing), so a
// decoded prompt starts with the dummy prefix's space.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "model/tokenizer/tokenizer.h"
#include "model/tokenizer/tokenizer_files.h"

namespace mtpc {

// The tokenizer in `path` (a serialized SentencePiece ModelProto).
// `options` supplies BOS/EOS contents (empty: the model's own <s>/</s>),
// extra stops and the FIM override. Errors name the file.
Result<std::shared_ptr<const Tokenizer>> load_sentencepiece_tokenizer(const std::string& path,
                                                                      const TokenizerFileOptions& options);

}  // namespace mtpc
