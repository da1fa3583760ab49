// LSP positions <-> UTF-8 byte offsets. LSP counts `character` in the
// negotiated encoding's code units (utf-16 by default, utf-8 when both sides
// agree). Invalid UTF-8 bytes count as one code unit each, so any byte string
// converts without error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mtpc::lsp {

enum class PositionEncoding { kUtf16, kUtf8 };
const char* position_encoding_name(PositionEncoding encoding);

struct Position {
  int64_t line = 0;
  int64_t character = 0;
  bool operator==(const Position& o) const { return line == o.line && character == o.character; }
};

// Byte offset of `pos` in `text`. A character past the end of its line means
// the line's end (as LSP says); a line past the last one, or a negative
// number, gives nullopt.
std::optional<size_t> offset_of(std::string_view text, Position pos, PositionEncoding encoding);

// The position of byte `offset` (clamped to the text; an offset inside a
// multi-byte character counts from the character's start).
Position position_of(std::string_view text, size_t offset, PositionEncoding encoding);

// Replaces invalid UTF-8 sequences with U+FFFD, for text sent to clients.
std::string valid_utf8(std::string_view text);

}  // namespace mtpc::lsp
