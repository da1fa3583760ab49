// Text helpers for byte-level tokenizers. Torch-free; pure functions.
#pragma once

#include <string>
#include <string_view>

namespace mtpc {

// GPT-2's byte-level spelling: each byte as one printable character
// (printable Latin-1 bytes as themselves, the rest from U+0100 up; a
// space is "Ġ"), as UTF-8. The spelling BPE vocabularies store.
std::string byte_level_spelling(std::string_view bytes);
// The inverse: the raw bytes a vocabulary entry stands for. A character
// outside the byte-level alphabet stands for its own UTF-8 bytes.
std::string byte_level_bytes(std::string_view spelling);

// `text` with each maximal run of valid UTF-8 put in Unicode NFC (ICU);
// bytes that are not valid UTF-8 are kept as they are, in place.
std::string nfc_valid_runs(std::string_view text);

// Length of the valid UTF-8 character at text[i], or 0 if the bytes there
// are not one (overlong forms, surrogates and values above U+10FFFF are not).
size_t utf8_char_length(std::string_view text, size_t i);

}  // namespace mtpc
