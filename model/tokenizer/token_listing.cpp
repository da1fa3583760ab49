#include "model/tokenizer/token_listing.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "model/tokenizer/tokenizer.h"
#include "model/tokenizer/tokenizer_files.h"
#include "model/tokenizer/unicode_text.h"

namespace mtpc {

namespace {

std::string hex_byte(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02X", c);
  return buf;
}

// Valid UTF-8 kept as is; each byte that is not part of a valid character
// written as \xNN. With `escape_controls`, control bytes, quotes and
// backslashes are escaped too (the plain listing; JSON escapes its own).
std::string printable(const std::string& bytes, bool escape_controls) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    size_t n = utf8_char_length(bytes, i);
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (n == 0) {
      out += hex_byte(c);
      ++i;
      continue;
    }
    if (n == 1 && escape_controls) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        case '\\': out += "\\\\"; break;
        case '\'': out += "\\'"; break;
        default:
          if (c < 0x20 || c == 0x7F) out += hex_byte(c);
          else out.push_back(static_cast<char>(c));
      }
    } else {
      out.append(bytes, i, n);
    }
    i += n;
  }
  return out;
}

}  // namespace

Result<std::string> list_tokens(const std::string& model_dir, std::string_view text, bool json) {
  auto tokenizer = load_model_tokenizer(model_dir);
  if (!tokenizer.ok()) return tokenizer.status();
  const Tokenizer& t = **tokenizer;
  const std::vector<int32_t> ids = t.encode(text);
  nlohmann::json out = {{"ids", ids}, {"pieces", nlohmann::json::array()}, {"special", nlohmann::json::array()}};
  std::string plain;
  for (int32_t id : ids) {
    const bool special = t.is_special(id);
    auto bytes = t.decode({id});
    if (!bytes.ok()) return bytes.status();
    if (json) {
      out["pieces"].push_back(special ? std::string() : printable(*bytes, false));
      out["special"].push_back(special);
    } else {
      char head[32];
      std::snprintf(head, sizeof head, "%6d -> ", id);
      plain += head + (special ? std::string("<special>") : "'" + printable(*bytes, true) + "'") + "\n";
    }
  }
  return json ? out.dump() + "\n" : plain;
}

}  // namespace mtpc
