// Benchmark overlap detection by hashed n-grams of code tokens.
//
// Code tokens: identifiers/keywords ([A-Za-z_] or any byte >= 0x80, then
// those or digits), numbers (a digit, then alphanumerics, '_' or '.'), and
// every other non-whitespace byte as a one-byte token. Whitespace is ignored,
// so CRLF, tabs and re-indentation do not hide a copy; comments and string
// contents are tokenized like code.
//
// An n-gram is *informative* when at least `min_words` of its tokens are
// identifiers of two or more bytes. Only informative n-grams are indexed:
// n-grams of punctuation, numbers and one-letter names (`[[1, 2], [3, 4]]`,
// `'a', 'b', 'c'`) occur in benchmark tests and in ordinary code alike and
// say nothing about copying.
//
// An OverlapIndex is immutable after load() and may be shared by threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace mtpc {

// Splits text into code tokens as described above; views point into `text`.
std::vector<std::string_view> code_tokens(std::string_view text);

struct OverlapMatch {
  std::string task_id;    // of the benchmark record with the most matches
  std::string benchmark;  // the exclude file it came from
  int64_t matched_ngrams = 0;
};

class OverlapIndex {
 public:
  // Reads every JSONL file (gzip or plain). From each record it indexes every
  // string field and every string inside an array field, except "task_id"
  // and "entry_point". Fails naming the file (and line) when a file is
  // missing, unreadable, or has a line that is not a JSON object.
  static Result<OverlapIndex> load(const std::vector<std::string>& files,
                                   int ngram, int min_words);

  // Indexes `text` as one more record, named `name`, from `source` (a
  // corpus file, say: the next-line benchmark decontaminates held-out files
  // against a training corpus by this same rule). Not thread-safe.
  void add(const std::string& name, const std::string& source, std::string_view text);

  // The record sharing the most informative n-grams with `text`, if any.
  // An n-gram present in several records counts for the first one loaded.
  std::optional<OverlapMatch> find(std::string_view text) const;

  int64_t records() const { return static_cast<int64_t>(records_.size()); }
  int64_t ngrams() const { return static_cast<int64_t>(first_record_.size()); }

 private:
  struct Record {
    std::string task_id;
    uint32_t benchmark = 0;  // index into benchmarks_
  };
  // Calls fn(hash) for each informative n-gram of text.
  template <class Fn>
  void for_each_ngram(std::string_view text, Fn&& fn) const;

  int ngram_ = 13;
  int min_words_ = 3;
  std::vector<std::string> benchmarks_;
  std::vector<Record> records_;
  std::unordered_map<uint64_t, uint32_t> first_record_;  // n-gram -> record
};

}  // namespace mtpc
