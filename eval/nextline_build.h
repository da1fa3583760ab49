// Builds the next-line benchmark (eval/nextline.h) from held-out source
// trees: `mtpc eval build-nextline`.
//
// Files with a listed extension are walked in sorted order. A file is
// skipped as "binary" when it holds a NUL byte or is not valid UTF-8, as
// "huge" above max_file_bytes, and dropped as "overlap" when it shares at
// least `overlap_min_ngrams` informative n-grams with a training corpus file
// (the corpus builder's own decontamination rule, model/corpus/
// overlap_index.h, with its n-gram and word settings). Every count is in the
// header.
//
// Holes are drawn with a seeded generator of our own (no std::
// distribution, so the same seed gives the same file on every platform):
// a file, a line of it holding non-blank text no longer than max_line_bytes,
// then a position: the line's start (the truth is the whole line, indented)
// or a byte inside it after its indentation (at a UTF-8 character's start,
// leaving non-blank text as the truth). At most max_holes_per_file per file,
// no two at the same place. Holes are written sorted by file and offset and
// numbered in that order.
//
// A corpus is given as a corpus directory of `mtpc corpus build`
// (manifest.json with train.bin/val.bin: every file between end-of-sequence
// ids is one record) or as a directory of source files (walked with the same
// extensions).
//
// Threads: blocks the calling thread. Never throws.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace mtpc::eval {

struct NextlineBuildOptions {
  std::vector<std::string> sources;  // held-out source trees
  std::vector<std::string> corpus;   // training corpora to decontaminate against
  std::vector<std::string> extensions = {".py"};
  uint64_t seed = 0;
  int holes = 1000;
  int max_holes_per_file = 5;
  int64_t max_file_bytes = 1 << 20;  // the corpus builder's default
  int max_line_bytes = 200;          // longer lines are data, not code to complete
  int ngram = 13;                    // CorpusOptions' defaults
  int ngram_min_words = 3;
  int overlap_min_ngrams = 1;        // the corpus rule: one shared n-gram drops the file
  std::string out;
  std::function<void(const std::string&)> progress;  // optional progress lines
};

struct NextlineBuildReport {
  int64_t files_seen = 0;
  int64_t skipped_binary = 0;
  int64_t skipped_huge = 0;
  int64_t skipped_unreadable = 0;
  int64_t dropped_overlap = 0;
  int64_t eligible = 0;     // files left to draw from
  int64_t files_used = 0;   // files written (with at least one hole)
  int64_t holes = 0;        // may be below the requested count when the files run out
  int64_t corpus_records = 0;
  std::string out;
};

// Writes options.out atomically. Fails (writing nothing) on a missing
// source or corpus, no file left to draw from, bad options, or a write error.
Result<NextlineBuildReport> build_nextline(const NextlineBuildOptions& options);

// One line for people: counts and the output path.
std::string nextline_build_summary(const NextlineBuildReport& report);

}  // namespace mtpc::eval
