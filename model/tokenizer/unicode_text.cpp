#include "model/tokenizer/unicode_text.h"

#include <array>
#include <unordered_map>

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

namespace mtpc {

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

struct ByteAlphabet {
  std::array<std::string, 256> spelling;          // byte -> UTF-8 of its character
  std::unordered_map<uint32_t, unsigned char> byte;  // code point -> byte
  ByteAlphabet() {
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      append_utf8(spelling[b], cp);
      byte[cp] = static_cast<unsigned char>(b);
    }
  }
};

const ByteAlphabet& alphabet() {
  static const ByteAlphabet a;
  return a;
}

}  // namespace

size_t utf8_char_length(std::string_view s, size_t i) {
  const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto cont = [&](size_t k) { return k < s.size() && (at(k) & 0xC0) == 0x80; };
  unsigned char c = at(i);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && at(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && at(i + 1) >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && at(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && at(i + 1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

std::string byte_level_spelling(std::string_view bytes) {
  const ByteAlphabet& a = alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += a.spelling[static_cast<unsigned char>(c)];
  return out;
}

std::string byte_level_bytes(std::string_view spelling) {
  const ByteAlphabet& a = alphabet();
  std::string out;
  size_t i = 0;
  while (i < spelling.size()) {
    size_t n = utf8_char_length(spelling, i);
    if (n == 0) {  // not UTF-8: cannot be an alphabet character, keep the byte
      out.push_back(spelling[i++]);
      continue;
    }
    uint32_t cp = static_cast<unsigned char>(spelling[i]);
    if (n > 1) {
      cp &= 0x7F >> n;
      for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(spelling[i + k]) & 0x3F);
    }
    auto it = a.byte.find(cp);
    if (it != a.byte.end()) out.push_back(static_cast<char>(it->second));
    else out.append(spelling.substr(i, n));
    i += n;
  }
  return out;
}

std::string nfc_valid_runs(std::string_view text) {
  bool ascii = true;
  for (char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(text);  // ASCII is always NFC

  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  std::string out;
  out.reserve(text.size());
  auto flush = [&](std::string_view run) {
    if (run.empty()) return;
    UErrorCode err = U_ZERO_ERROR;
    if (nfc == nullptr || U_FAILURE(status) || nfc->isNormalizedUTF8(icu::StringPiece(run.data(), run.size()), err)) {
      out.append(run);
      return;
    }
    std::string normalized;
    icu::StringByteSink<std::string> sink(&normalized);
    err = U_ZERO_ERROR;
    nfc->normalizeUTF8(0, icu::StringPiece(run.data(), run.size()), sink, nullptr, err);
    out.append(U_SUCCESS(err) ? std::string_view(normalized) : run);
  };
  size_t run_start = 0, i = 0;
  while (i < text.size()) {
    size_t n = utf8_char_length(text, i);
    if (n > 0) {
      i += n;
      continue;
    }
    flush(text.substr(run_start, i - run_start));
    out.push_back(text[i]);
    run_start = ++i;
  }
  flush(text.substr(run_start));
  return out;
}

}  // namespace mtpc
