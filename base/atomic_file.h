// Crash-safe file replacement. Torch-free.
//
// write_file_atomic writes the bytes to PATH.tmp-<pid> in PATH's directory,
// fsyncs it, renames it over PATH and fsyncs the directory, so a reader (or a
// crash) sees either the old PATH or the complete new one, never a torn file.
// Every write/fsync/close/rename result is checked. On failure before the
// rename the temp file is removed, PATH is untouched, and the Status names
// PATH, the step and the cause (strerror, e.g. "No space left on device",
// "File too large"). Only if the final directory fsync fails does PATH already
// hold the new bytes; the message then says so.
//
// Thread-safety: calls for different paths may run concurrently; two calls
// for the same path from one process would share a temp name and must not.
// Never throws.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mtpc {

Status write_file_atomic(const std::string& path, std::string_view bytes);

// Same, writing the pieces one after another; lets a caller store large
// buffers without first concatenating them.
Status write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces);

// fsync of a directory, making earlier renames/creations in it durable.
Status fsync_dir(const std::string& dir);

}  // namespace mtpc
