// Corpus building: source trees -> packed byte-token files for training.
//
// build_corpus walks directory trees in sorted order, filters files (binary,
// huge, generated, exact duplicates, benchmark overlap), splits the rest into
// train/validation by content hash and writes, into out_dir:
//   train.bin, val.bin  tokens as little-endian uint16: each kept file's bytes
//                       as ids 0..255, then one kCorpusEosId;
//   manifest.json       options, counts, bytes/tokens/sha256 per split, and
//                       every kept file (path, split, bytes, sha256);
//   dropped.jsonl       one line per file not kept: {"path", "reason"} with
//                       reason binary|huge|generated|duplicate|overlap|
//                       unreadable, plus "duplicate_of" for duplicates and
//                       "task_id"/"benchmark" for overlap.
// Every output is written to NAME.tmp, fsynced and renamed; manifest.json is
// removed first and renamed last, so a manifest.json present in out_dir always
// describes the .bin files beside it, and a failed run leaves no manifest.
//
// Decontamination rule (measured, see overlap_index.h for the details): a
// corpus file is dropped when it shares at least one *informative* n-gram of
// `ngram` code tokens with any string in an exclude file. An n-gram is
// informative when it holds at least `ngram_min_words` identifier/keyword
// tokens of two or more characters. Without that filter literal data such as
// `[[1, 2], [3, 4]]` or `['a', 'b', 'c']` (common in benchmark tests and in
// library tests) dropped 120 of 1026 Debian Python 3.11 stdlib + numpy 1.24
// files (33% of bytes); with it 11 files (3.6% of bytes) are dropped, while
// 1128 of 1138 HumanEval prompt+solution / MBPP code copies are still caught
// (the rest are shorter than one n-gram).
//
// Thread-safety: build_corpus touches only its arguments and the filesystem;
// concurrent calls must use different out_dirs. Errors are returned, never
// thrown.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace mtpc {

// End-of-sequence id appended after each file. Must equal the byte
// tokenizer's EOS id (ids 0..255 are bytes, 256 BOS, 257 EOS).
constexpr int kCorpusEosId = 257;
// Ids in token files must be below this. Must equal the byte tokenizer's
// vocabulary size.
constexpr int kCorpusVocabSize = 262;

struct CorpusOptions {
  std::vector<std::string> from_dirs;  // roots, walked recursively in sorted
                                       // order; symlinked dirs not followed
  std::vector<std::string> extensions = {".py"};  // kept suffixes ("py" ok)
  std::string out_dir;                 // created if missing
  std::vector<std::string> exclude_overlap_files;  // benchmark .jsonl[.gz]
  int64_t max_file_bytes = 1 << 20;    // larger files skipped as "huge"
  int val_permille = 10;               // share of files in validation, 0..1000
  int ngram = 13;                      // decontamination n-gram, code tokens
  int ngram_min_words = 3;             // identifier tokens (>= 2 chars) an
                                       // n-gram needs to count as a match
  std::function<void(const std::string&)> progress;  // optional progress lines
};

struct CorpusSplitStats {
  int64_t files = 0;
  int64_t bytes = 0;   // source bytes
  int64_t tokens = 0;  // bytes + one EOS per file
  std::string sha256;  // of the .bin file, lowercase hex
};

struct CorpusFileEntry {
  std::string path;
  std::string split;  // "train" | "val"
  int64_t bytes = 0;
  std::string sha256;  // of the file's content
};

struct CorpusManifest {
  // files_seen counts files with a listed extension; every one of them is
  // either kept or counted under exactly one reason below.
  int64_t files_seen = 0;
  int64_t files_kept_train = 0;
  int64_t files_kept_val = 0;
  int64_t skipped_binary = 0;
  int64_t skipped_huge = 0;
  int64_t skipped_generated = 0;
  int64_t skipped_duplicate = 0;
  int64_t skipped_unreadable = 0;  // also counts unreadable subdirectories
  int64_t dropped_overlap = 0;
  CorpusSplitStats train;
  CorpusSplitStats val;  // may be empty (0 files) for small corpora
  std::vector<CorpusFileEntry> files;  // kept files, in walk order
  std::string manifest_path;
};

// Builds the corpus described above. Fails, writing nothing, on: a from-dir
// that is missing, not a directory or unreadable; an exclude file that is
// missing or has a malformed line (message names file and line); an out_dir
// that cannot be created or written; no file kept.
Result<CorpusManifest> build_corpus(const CorpusOptions& options);

// One line for people: files kept and dropped by reason, sizes, the
// manifest's path (what `mtpc corpus build` prints).
std::string corpus_summary(const CorpusManifest& manifest);

// Loads a train.bin/val.bin. Fails (message names the path) when the file is
// unreadable, empty, not a whole number of uint16, or holds an id >=
// kCorpusVocabSize.
Result<std::vector<uint16_t>> read_token_file(const std::string& path);

}  // namespace mtpc
