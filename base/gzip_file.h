// Whole-file reads that gunzip transparently. Torch-free.
#pragma once

#include <string>

#include "base/status.h"

namespace mtpc {

// Reads PATH whole, bytes as they are. Errors name the path and the cause
// (missing, not a regular file, unreadable).
Result<std::string> read_file(const std::string& path);

// Reads PATH whole; gzip files are decompressed, plain files pass through.
// Errors name the path and the cause.
Result<std::string> read_file_maybe_gz(const std::string& path);

}  // namespace mtpc
