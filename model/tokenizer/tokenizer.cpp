#include "model/tokenizer/tokenizer.h"

namespace mtpc {

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

Result<std::string> ByteTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t id = ids[i];
    if (id < 0 || id >= kVocabSize)
      return Status::Error("token id " + std::to_string(id) + " at position " + std::to_string(i) +
                           " is outside the byte vocabulary [0, " + std::to_string(kVocabSize) + ")");
    if (id < 256) out.push_back(static_cast<char>(id));
  }
  return out;
}

int32_t ByteTokenizer::token_id(std::string_view piece) const {
  if (piece.size() == 1) return static_cast<unsigned char>(piece[0]);
  return -1;
}

Result<std::shared_ptr<const Tokenizer>> make_tokenizer(const std::string& kind, FimTemplate::Order fim_order) {
  if (kind == "byte") return std::shared_ptr<const Tokenizer>(std::make_shared<ByteTokenizer>(fim_order));
  return Status::Error("unknown tokenizer kind '" + kind + "' (known: byte)");
}

}  // namespace mtpc
