// The server's log: stderr or a file, never stdout (stdout carries the
// protocol). One line per event with a UTC timestamp; safe from any thread.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "base/status.h"

namespace mtpc::lsp {

class Logger {
 public:
  Logger();  // stderr
  ~Logger();
  // Appends to `path` from now on.
  Status open_file(const std::string& path);
  void line(const std::string& text);

 private:
  std::mutex mu_;
  std::FILE* out_;
  bool owned_ = false;
};

}  // namespace mtpc::lsp
