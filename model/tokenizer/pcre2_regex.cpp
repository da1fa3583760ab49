#include "model/tokenizer/pcre2_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace mtpc {

namespace {

pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }

struct MatchData {
  explicit MatchData(const pcre2_code* code) : data(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(data); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
  pcre2_match_data* data;
};

}  // namespace

Result<std::shared_ptr<const Pcre2Regex>> Pcre2Regex::compile(const std::string& pattern, bool literal) {
  uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
  // PCRE2 refuses UCP together with LITERAL; a literal has no classes anyway.
  options |= literal ? PCRE2_LITERAL : PCRE2_UCP;
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error,
                                   &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(error, buffer, sizeof buffer);
    return Status::Error("regex does not compile at offset " + std::to_string(offset) + ": " +
                         reinterpret_cast<const char*>(buffer));
  }
  // JIT is an optimization: without it (no JIT on this CPU) matching is
  // the same, only slower.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  std::shared_ptr<Pcre2Regex> regex(new Pcre2Regex());
  regex->code_ = code;
  return std::shared_ptr<const Pcre2Regex>(std::move(regex));
}

Pcre2Regex::~Pcre2Regex() { pcre2_code_free(as_code(code_)); }

std::vector<std::pair<size_t, size_t>> Pcre2Regex::find_all(std::string_view subject) const {
  std::vector<std::pair<size_t, size_t>> out;
  const pcre2_code* code = as_code(code_);
  MatchData match(code);
  if (match.data == nullptr) return out;
  const auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t start = 0;
  while (start < subject.size()) {
    int rc = pcre2_match(code, text, subject.size(), start, 0, match.data, nullptr);
    if (rc < 0) break;  // PCRE2_ERROR_NOMATCH, or a resource limit: the rest is one gap
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.data);
    size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      out.emplace_back(begin, end);
      start = end;
    } else {
      // An empty match: step over one byte, then over the rest of its
      // UTF-8 character so the next attempt starts on a boundary.
      start = begin + 1;
      while (start < subject.size() && (static_cast<unsigned char>(subject[start]) & 0xC0) == 0x80) ++start;
    }
  }
  return out;
}

}  // namespace mtpc
