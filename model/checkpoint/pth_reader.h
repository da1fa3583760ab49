// A restricted, memory-mapping reader of PyTorch zip checkpoints (what
// torch.save writes since 1.6), for state dicts only. Torch-free.
//
// The file is a ZIP archive of stored (uncompressed) entries, ZIP64 allowed:
//   ARCHIVE/data.pkl   the pickled state dict (protocol 2; 4 accepted)
//   ARCHIVE/data/KEY   one raw little-endian storage per key
//   ARCHIVE/byteorder  "little" when present ("big" is refused)
// The pickle is interpreted by our own stack machine, never by anything that
// can run code. It knows only the opcodes a state dict uses and only these
// globals:
//   collections.OrderedDict, torch._utils._rebuild_tensor_v2,
//   torch._utils._rebuild_parameter, and the typed storage classes
//   torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage;
// storages arrive through persistent_load of
//   ('storage', storage_class, key, location, numel).
// Any other global (os.system, builtins.eval, torch.nn.*, ...) is refused
// with an error naming it: nothing in the file is ever called, since the
// machine only builds descriptions of tensors.
//
// Result: name -> PthTensor {dtype, shape, strides, storage offset, pointer
// into the mapped file}. Storages are used in place (mmap, read-only); any
// strides are accepted as long as every element they reach lies inside the
// storage (negative strides are refused).
//
// Failure: PthFile::open returns an error naming the path and what is wrong
// (truncated zip, a compressed entry, bad pickle, an unknown opcode, a
// storage key missing from the archive, a tensor running past its storage,
// a top-level object that is not a dict of tensors); it never throws, and
// every read is bounds-checked, so malformed input cannot crash or hang it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/checkpoint/safetensors.h"  // DType

namespace mtpc {

struct PthTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;   // in elements, one per dimension
  int64_t storage_offset = 0;     // in elements
  std::string storage_key;        // the ARCHIVE/data/KEY entry
  const uint8_t* storage = nullptr;  // first byte of the storage, in the mapping
  size_t storage_bytes = 0;

  int64_t numel() const;
  bool is_contiguous() const;  // row-major strides
  // First element (storage + storage_offset elements).
  const uint8_t* data() const { return storage + static_cast<size_t>(storage_offset) * dtype_size(dtype); }
};

// An open, validated checkpoint. Owns (copies share) the read-only mapping
// that every PthTensor points into: tensors are valid while one copy lives.
// Immutable after open: any number of threads may read it.
class PthFile {
 public:
  static Result<PthFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  // Sorted by name; a state dict's insertion order is not needed.
  const std::map<std::string, PthTensor>& tensors() const { return tensors_; }
  const PthTensor* find(const std::string& name) const;

 private:
  struct Mapping;
  PthFile() = default;
  static Result<PthFile> open_mapped(const std::string& path);
  std::string path_;
  std::shared_ptr<Mapping> mapping_;
  std::map<std::string, PthTensor> tensors_;
};

// Internals exposed for tests and the fuzzer: the ZIP directory of a byte
// range, and the unpickler over in-memory bytes.
struct ZipEntry {
  uint64_t data_offset = 0;  // of the entry's first byte within the archive
  uint64_t size = 0;
};
// Parses the central directory (ZIP64 records when present); entries must be
// stored and lie inside [data, data + size). `source` names the file in errors.
Result<std::map<std::string, ZipEntry>> read_zip_directory(const uint8_t* data, size_t size,
                                                           const std::string& source);

// A tensor as the pickle describes it, before its storage is located.
struct PickledTensor {
  DType dtype = DType::F32;
  std::string storage_key;
  int64_t storage_numel = 0;
  std::vector<int64_t> shape, strides;
  int64_t storage_offset = 0;
};
// Runs the restricted machine over a pickle that must produce a dict
// (or OrderedDict) from string names to tensors.
Result<std::vector<std::pair<std::string, PickledTensor>>> unpickle_state_dict(
    const uint8_t* data, size_t size, const std::string& source);

}  // namespace mtpc
