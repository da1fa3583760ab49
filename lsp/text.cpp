#include "lsp/text.h"

namespace mtpc::lsp {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when invalid.
size_t utf8_length(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  // Overlong forms, surrogates and values past U+10FFFF are invalid too.
  unsigned char c1 = n > 1 ? static_cast<unsigned char>(s[i + 1]) : 0;
  if (n == 2 && c < 0xC2) return 0;
  if (n == 3 && ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0))) return 0;
  if (n == 4 && ((c == 0xF0 && c1 < 0x90) || c > 0xF4 || (c == 0xF4 && c1 >= 0x90))) return 0;
  return n;
}

// Code units of one character of `bytes` bytes (0: invalid byte, one unit).
int64_t units(size_t bytes, PositionEncoding encoding) {
  if (bytes == 0) return 1;
  if (encoding == PositionEncoding::kUtf8) return static_cast<int64_t>(bytes);
  return bytes == 4 ? 2 : 1;
}

}  // namespace

const char* position_encoding_name(PositionEncoding encoding) {
  return encoding == PositionEncoding::kUtf8 ? "utf-8" : "utf-16";
}

std::optional<size_t> offset_of(std::string_view text, Position pos, PositionEncoding encoding) {
  if (pos.line < 0 || pos.character < 0) return std::nullopt;
  size_t i = 0;
  for (int64_t line = 0; line < pos.line; ++line) {
    size_t nl = text.find('\n', i);
    if (nl == std::string_view::npos) return std::nullopt;
    i = nl + 1;
  }
  int64_t left = pos.character;
  while (i < text.size() && text[i] != '\n' && left > 0) {
    size_t n = utf8_length(text, i);
    int64_t u = units(n, encoding);
    if (u > left) break;  // inside a surrogate pair: stay before the character
    left -= u;
    i += n == 0 ? 1 : n;
  }
  return i;
}

Position position_of(std::string_view text, size_t offset, PositionEncoding encoding) {
  if (offset > text.size()) offset = text.size();
  Position p;
  size_t line_start = 0;
  for (size_t nl = text.find('\n'); nl != std::string_view::npos && nl < offset; nl = text.find('\n', nl + 1)) {
    ++p.line;
    line_start = nl + 1;
  }
  for (size_t i = line_start; i < offset;) {
    size_t n = utf8_length(text, i);
    size_t step = n == 0 ? 1 : n;
    if (i + step > offset) break;
    p.character += units(n, encoding);
    i += step;
  }
  return p;
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_length(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace mtpc::lsp
