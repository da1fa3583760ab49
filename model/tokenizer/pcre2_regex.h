// A compiled PCRE2 pattern over UTF-8 subjects that may be invalid UTF-8
// (PCRE2_MATCH_INVALID_UTF: invalid bytes match nothing, and no subject
// makes matching fail). Unicode properties on (PCRE2_UCP), JIT when the
// library has it. Torch-free; immutable and thread-safe after compile.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace mtpc {

class Pcre2Regex {
 public:
  // `literal`: the pattern is a plain string (tokenizer.json's
  // {"String": ...} split pattern). Errors carry PCRE2's message and offset.
  static Result<std::shared_ptr<const Pcre2Regex>> compile(const std::string& pattern, bool literal);
  ~Pcre2Regex();
  Pcre2Regex(const Pcre2Regex&) = delete;
  Pcre2Regex& operator=(const Pcre2Regex&) = delete;

  // The non-empty, non-overlapping matches in `subject`, left to right, as
  // [begin, end) byte offsets. Matching sees only `subject` (a lookahead at
  // its end sees the end of the text).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view subject) const;

 private:
  Pcre2Regex() = default;
  void* code_ = nullptr;  // pcre2_code_8*, kept out of the header
};

}  // namespace mtpc
