// Reader and writer of the safetensors format, as read by Python's
// `safetensors` package. Torch-free, so any module may include it.
//
// File layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
// (possibly space-padded), then the data buffer. The JSON maps each tensor
// name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
// to the buffer) and may hold "__metadata__": {string: string}. Tensors are
// row-major, little-endian, and must tile the buffer exactly: no overlaps, no
// uncovered bytes.
//
// Failure: SafetensorsFile::open and write_safetensors return an error value
// whose message starts with the path and names the field or tensor at fault;
// they never throw. Both assume a little-endian host (checked at compile time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mtpc {

enum class DType { F32, BF16, F16, F64, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType dtype);        // bytes per element
const char* dtype_name(DType dtype);   // "F32", "BF16", ...
std::optional<DType> parse_dtype(std::string_view name);
// "[2, 3]": a shape as every checkpoint loader's messages print it.
std::string shape_string(const std::vector<int64_t>& shape);

// Largest header accepted by open; Python's safetensors uses the same cap.
// A larger length field means the file is not safetensors (or is corrupt).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct TensorInfo {
  DType dtype;
  std::vector<int64_t> shape;  // empty for a 0-d scalar
  size_t offset;               // of the first byte, within the data buffer
  size_t nbytes;               // == product(shape) * dtype_size(dtype)
};

// A whole safetensors file, read into memory or memory-mapped, and validated.
//
// open(): owns a copy of the file's bytes (one read; the file may change or
// vanish afterwards); the data buffer starts 8-byte aligned in memory, so a
// tensor whose offset is a multiple of its dtype size (true for files from
// write_safetensors and from Python's safetensors) is naturally aligned.
// map(): the same validation over a private mapping of the file (pages are
// read on first touch and shared with the page cache; writes through data()
// are not allowed). The mapping lives while this object or any holder of
// mapping() does, so tensors built over it can outlive the file object.
// The file must not be truncated while mapped (that is SIGBUS, as for every
// memory-mapped reader); replacing it by rename is fine.
// Move-only. Immutable after open/map, so any number of threads may read it.
class SafetensorsFile {
 public:
  // Reads and validates PATH; on failure the Status says what is wrong.
  static Result<SafetensorsFile> open(const std::string& path);
  // Maps and validates PATH; same checks and messages as open().
  static Result<SafetensorsFile> map(const std::string& path);

  // Keeps the mapping alive (null for a file read by open()).
  std::shared_ptr<const void> mapping() const { return mapping_; }
  bool mapped() const { return mapping_ != nullptr; }

  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Null if no tensor has that name.
  const TensorInfo* find(const std::string& name) const;
  // First byte of a tensor; `info` must come from this file's tensors().
  // Valid for the lifetime of this object.
  const uint8_t* data(const TensorInfo& info) const { return buffer_ + info.offset; }

 private:
  SafetensorsFile() = default;
  std::unique_ptr<uint8_t[]> storage_;
  std::shared_ptr<const void> mapping_;  // map(): unmaps when the last holder goes
  const uint8_t* buffer_ = nullptr;  // data buffer inside storage_ or the mapping
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to write. `data` is borrowed for the duration of the call and
// holds nbytes of row-major little-endian elements.
struct TensorRef {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};

// Writes a safetensors file atomically (see write_file_atomic: on any error
// PATH is untouched and no temp file remains). Refuses duplicate names, the
// name "__metadata__", negative dims and nbytes != product(shape) * dtype
// size. Tensors are stored by descending dtype size, then name, with
// contiguous offsets, so every tensor is aligned to its element size (the
// order Python's safetensors uses); the header is space-padded to a multiple
// of 8 bytes. "__metadata__" is written only when `metadata` is non-empty.
Status write_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace mtpc
