// The frozen base's hidden states of distilled sequences, cached on disk
// (`mtpc train heads --cache-dir DIR`). LibTorch header: only the heads
// trainer includes it.
//
// One file per (base, targets) pair, named after both checksums:
//   DIR/hidden-<base sha256, 16 hex>-<targets sha256, 16 hex>-L<L>-d<dim>.bin
//   "MTPCHID1", uint64 header length, a JSON header (format, base_sha256,
//   targets_sha256, sequences, seq_len, dim, record_bytes), then one record
//   per sequence in order: L x dim float32 trunk states, L int32 head-1
//   greedy tokens, a uint32 CRC-32 of the record's bytes.
// Size: header + sequences x (L x dim x 4 + L x 4 + 4) bytes.
//
// `open` checks the header against the key, the file's size and every
// record's CRC; a file that fails any check is reported (the caller rebuilds
// it). `build` writes PATH.tmp-<pid>, fsyncs and renames it over PATH, so a
// reader never sees a torn file. `read` takes rows by pread; one object may
// be read by one thread at a time.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace mtpc {

struct HiddenCacheKey {
  std::string base_sha256, targets_sha256;
  int64_t sequences = 0;
  int seq_len = 0;
  int dim = 0;
};

class HiddenStateCache {
 public:
  // Trunk states [count, L, dim] (float32) and head 1's greedy tokens [count, L].
  using Compute = std::function<std::pair<torch::Tensor, torch::Tensor>(int64_t begin, int64_t count)>;

  static std::string file_name(const HiddenCacheKey& key);
  static int64_t record_bytes(int seq_len, int dim) { return int64_t{4} * seq_len * dim + int64_t{4} * seq_len + 4; }

  // The cache at `path` if it is whole and made for `key`; else an error
  // saying what is wrong (missing, another key, truncated, a CRC mismatch).
  static Result<HiddenStateCache> open(const std::string& path, const HiddenCacheKey& key);

  // Computes every sequence with `compute`, `batch` at a time, and publishes
  // the file atomically.
  static Status build(const std::string& path, const HiddenCacheKey& key, int batch, const Compute& compute);

  // Rows `indices`: states [B, L, dim] float32 and tokens [B, L] int64, on the CPU.
  std::pair<torch::Tensor, torch::Tensor> read(const std::vector<int64_t>& indices) const;

  HiddenStateCache(HiddenStateCache&& other) noexcept;
  HiddenStateCache& operator=(HiddenStateCache&& other) noexcept;
  HiddenStateCache(const HiddenStateCache&) = delete;
  HiddenStateCache& operator=(const HiddenStateCache&) = delete;
  ~HiddenStateCache();

  const std::string& path() const { return path_; }
  int64_t file_bytes() const { return data_offset_ + key_.sequences * record_bytes(key_.seq_len, key_.dim); }

 private:
  HiddenStateCache() = default;
  std::string path_;
  HiddenCacheKey key_;
  int fd_ = -1;
  int64_t data_offset_ = 0;
};

}  // namespace mtpc
