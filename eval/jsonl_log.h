// Reading an append-only JSONL log back to resume a run (samples.jsonl,
// results.jsonl). Torch-free.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace mtpc::eval {

// Reads `path` (absent: no lines). Records are written whole with their
// newline, so text after the last newline can only be a write cut short by
// a crash: it is cut off the file, and *torn_line gets its 1-based line
// number (0 when there was none). Then calls on_line(line_no, line) for
// every complete line that is not blank; the first error it returns ends
// the read and is returned.
Status read_jsonl_log(const std::string& path,
                      const std::function<Status(size_t line_no, std::string_view line)>& on_line,
                      size_t* torn_line);

// Writes `line` (a record and its newline) to the O_APPEND descriptor `fd`
// of `path`, retrying short and interrupted writes.
Status append_jsonl_line(int fd, const std::string& path, const std::string& line);

}  // namespace mtpc::eval
