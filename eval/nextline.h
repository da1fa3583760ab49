// The next-line benchmark on held-out code: its file format, loading and
// scoring. Torch-free (mtpc_eval); the builder is nextline_build.h, the run
// through the completion core nextline_run.h.
//
// FILE is JSONL. Line 1 is the header, {"mtpc_nextline": 1, "seed", "holes",
// "sources", "corpus", ... counts}; then one {"type": "file", "path",
// "language", "sha256", "text"} line per file the holes use, then one
// {"type": "hole", "id", "file", "offset", "position", "truth"} line per
// hole. A hole's document is the file's text; its cursor the byte `offset`;
// its prefix text[0, offset); its suffix what follows the truth, the newline
// first; `truth` the rest of the line (text[offset, end of line)).
// `position` is "line_start" or "inside_line".
//
// Scores, as CodeXGLUE's line completion: both strings stripped of leading
// and trailing whitespace; exact match when equal; edit similarity
// 100 * (1 - levenshtein / max length), 100 when both are empty.
//
// Never throws.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace mtpc::eval {

inline constexpr int kNextlineFormatVersion = 1;

struct NextlineFile {
  std::string path;      // as given to the builder, relative to its source root
  std::string language;  // "python", ... (completion::language_name)
  std::string sha256;
  std::string text;
};

struct NextlineHole {
  std::string id;        // "nextline/<n>"
  std::string file;      // a NextlineFile's path
  int64_t offset = 0;    // the cursor, a byte offset into the file's text
  std::string position;  // "line_start" | "inside_line"
  std::string truth;     // the rest of the line
};

struct NextlineBenchmark {
  nlohmann::json header;
  std::map<std::string, NextlineFile> files;  // by path
  std::vector<NextlineHole> holes;            // in file order
};

// Loads FILE (plain or gzip). Fails with "FILE:LINE: what" on a line that is
// not a JSON object, a missing or mistyped field, an unknown record type, a
// header that is not the first line, a hole naming a file not given before
// it, a hole past the end of its file or whose truth is not the text at its
// offset up to the end of the line, a duplicate id or file.
Result<NextlineBenchmark> load_nextline(const std::string& path);

// The whole-file record and hole lines (the builder's writer).
nlohmann::json to_json(const NextlineFile& file);
nlohmann::json to_json(const NextlineHole& hole);

// Whitespace (space, tab, CR, LF, FF, VT) trimmed from both ends.
std::string_view strip_line(std::string_view s);
// Edit distance in bytes (insert, delete, substitute: 1 each).
size_t levenshtein(std::string_view a, std::string_view b);
bool nextline_exact_match(std::string_view truth, std::string_view completion);
// 0..100.
double nextline_edit_similarity(std::string_view truth, std::string_view completion);

// The first line of a completion (the core stops at the end of the line; a
// completion may still hold the newline).
std::string_view first_line(std::string_view completion);

}  // namespace mtpc::eval
