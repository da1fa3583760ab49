// Download progress for a person watching: a bar rewritten in place on a
// terminal, plain lines now and then when stderr is a pipe or a log file.
// Torch-free. One thread calls it (the pull's).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace mtpc::hub {

struct TransferProgress {
  std::string file;
  uint64_t done = 0;   // bytes of the file on disk, resumed bytes included
  uint64_t total = 0;  // 0 when unknown
  bool finished = false;
};

class ProgressPrinter {
 public:
  // tty: draw a bar with '\r'; otherwise a line every line_interval_s
  // seconds per file, and one when it finishes.
  ProgressPrinter(std::FILE* out, bool tty, double line_interval_s = 5.0);
  void update(const TransferProgress& p);

 private:
  std::FILE* out_;
  bool tty_;
  double interval_s_;
  std::string file_;
  std::chrono::steady_clock::time_point file_start_, last_print_;
  uint64_t start_bytes_ = 0;
};

}  // namespace mtpc::hub
