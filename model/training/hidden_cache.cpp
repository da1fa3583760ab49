#include "model/training/hidden_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"

namespace fs = std::filesystem;

namespace mtpc {
namespace {

constexpr char kMagic[8] = {'M', 'T', 'P', 'C', 'H', 'I', 'D', '1'};
constexpr const char* kFormat = "mtpc-hidden-cache";

nlohmann::json header_json(const HiddenCacheKey& key) {
  return {{"format", kFormat},
          {"format_version", 1},
          {"base_sha256", key.base_sha256},
          {"targets_sha256", key.targets_sha256},
          {"sequences", key.sequences},
          {"seq_len", key.seq_len},
          {"dim", key.dim},
          {"record_bytes", HiddenStateCache::record_bytes(key.seq_len, key.dim)}};
}

// Reads exactly `n` bytes at `offset`; false on a short read or an error.
bool pread_all(int fd, void* buf, size_t n, int64_t offset) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t got = ::pread(fd, p, n, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got, n -= static_cast<size_t>(got), offset += got;
  }
  return true;
}

bool write_all(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t put = ::write(fd, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    p += put, n -= static_cast<size_t>(put);
  }
  return true;
}

uint32_t crc_of(const char* data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt piece = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), piece);
    data += piece, n -= piece;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

std::string HiddenStateCache::file_name(const HiddenCacheKey& key) {
  return "hidden-" + key.base_sha256.substr(0, 16) + "-" + key.targets_sha256.substr(0, 16) + "-L" +
         std::to_string(key.seq_len) + "-d" + std::to_string(key.dim) + ".bin";
}

HiddenStateCache::HiddenStateCache(HiddenStateCache&& other) noexcept
    : path_(std::move(other.path_)), key_(std::move(other.key_)), fd_(other.fd_), data_offset_(other.data_offset_) {
  other.fd_ = -1;
}

HiddenStateCache& HiddenStateCache::operator=(HiddenStateCache&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_), key_ = std::move(other.key_), fd_ = other.fd_, data_offset_ = other.data_offset_;
    other.fd_ = -1;
  }
  return *this;
}

HiddenStateCache::~HiddenStateCache() {
  if (fd_ >= 0) ::close(fd_);
}

Result<HiddenStateCache> HiddenStateCache::open(const std::string& path, const HiddenCacheKey& key) {
  HiddenStateCache cache;
  cache.path_ = path;
  cache.key_ = key;
  cache.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (cache.fd_ < 0) return Status::Error(path + ": " + std::strerror(errno));
  char magic[8];
  uint64_t header_len = 0;
  if (!pread_all(cache.fd_, magic, 8, 0) || std::memcmp(magic, kMagic, 8) != 0 ||
      !pread_all(cache.fd_, &header_len, 8, 8) || header_len > (1u << 20))
    return Status::Error(path + ": not an mtpc hidden-state cache (bad magic or header length)");
  std::string header(header_len, '\0');
  if (!pread_all(cache.fd_, header.data(), header_len, 16)) return Status::Error(path + ": header cut short");
  auto j = nlohmann::json::parse(header, nullptr, false);
  const nlohmann::json want = header_json(key);
  if (j.is_discarded() || !j.is_object()) return Status::Error(path + ": header is not JSON");
  for (const auto& [field, value] : want.items())
    if (j.value(field, nlohmann::json(nullptr)) != value)
      return Status::Error(path + ": made with " + field + " = " + j.value(field, nlohmann::json(nullptr)).dump() +
                           ", this run needs " + value.dump());
  cache.data_offset_ = 16 + static_cast<int64_t>(header_len);
  struct stat st {};
  if (::fstat(cache.fd_, &st) != 0) return Status::Error(path + ": " + std::strerror(errno));
  if (st.st_size != cache.file_bytes())
    return Status::Error(path + ": " + std::to_string(st.st_size) + " bytes, expected " +
                         std::to_string(cache.file_bytes()) + " (truncated or overwritten)");
  const int64_t rb = record_bytes(key.seq_len, key.dim);
  std::vector<char> record(static_cast<size_t>(rb));
  for (int64_t i = 0; i < key.sequences; ++i) {
    if (!pread_all(cache.fd_, record.data(), record.size(), cache.data_offset_ + i * rb))
      return Status::Error(path + ": cannot read record " + std::to_string(i));
    uint32_t stored = 0;
    std::memcpy(&stored, record.data() + rb - 4, 4);
    if (crc_of(record.data(), static_cast<size_t>(rb - 4)) != stored)
      return Status::Error(path + ": record " + std::to_string(i) + " fails its CRC-32 (corrupted)");
  }
  return cache;
}

Status HiddenStateCache::build(const std::string& path, const HiddenCacheKey& key, int batch, const Compute& compute) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error(tmp + ": cannot create: " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    fs::remove(tmp, ec);
    return Status::Error(tmp + ": " + what + (errno ? ": " + why : std::string()));
  };
  const std::string header = header_json(key).dump();
  const uint64_t header_len = header.size();
  if (!write_all(fd, kMagic, 8) || !write_all(fd, &header_len, 8) || !write_all(fd, header.data(), header.size()))
    return fail("write failed");
  const int64_t L = key.seq_len, D = key.dim, rb = record_bytes(key.seq_len, key.dim);
  std::vector<char> record(static_cast<size_t>(rb));
  for (int64_t begin = 0; begin < key.sequences; begin += batch) {
    const int64_t count = std::min<int64_t>(batch, key.sequences - begin);
    auto [hidden, tokens] = compute(begin, count);
    hidden = hidden.to(torch::kCPU, torch::kFloat32).contiguous();
    tokens = tokens.to(torch::kCPU, torch::kInt32).contiguous();
    if (hidden.sizes() != torch::IntArrayRef({count, L, D}) || tokens.sizes() != torch::IntArrayRef({count, L})) {
      errno = 0;
      return fail("computed states have the wrong shape");
    }
    for (int64_t b = 0; b < count; ++b) {
      std::memcpy(record.data(), hidden[b].data_ptr<float>(), static_cast<size_t>(L * D * 4));
      std::memcpy(record.data() + L * D * 4, tokens[b].data_ptr<int32_t>(), static_cast<size_t>(L * 4));
      const uint32_t crc = crc_of(record.data(), static_cast<size_t>(rb - 4));
      std::memcpy(record.data() + rb - 4, &crc, 4);
      if (!write_all(fd, record.data(), record.size())) return fail("write failed");
    }
  }
  if (::fsync(fd) != 0) return fail("fsync failed");
  if (::close(fd) != 0) {
    fs::remove(tmp, ec);
    return Status::Error(tmp + ": close failed: " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    fs::remove(tmp, ec);
    return Status::Error(path + ": rename failed: " + why);
  }
  return fsync_dir(fs::path(path).parent_path().string());
}

std::pair<torch::Tensor, torch::Tensor> HiddenStateCache::read(const std::vector<int64_t>& indices) const {
  const int64_t B = static_cast<int64_t>(indices.size()), L = key_.seq_len, D = key_.dim;
  const int64_t rb = record_bytes(key_.seq_len, key_.dim);
  auto hidden = torch::empty({B, L, D}, torch::kFloat32);
  auto tokens = torch::empty({B, L}, torch::kInt32);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t offset = data_offset_ + indices[b] * rb;
    if (indices[b] < 0 || indices[b] >= key_.sequences ||
        !pread_all(fd_, hidden[b].data_ptr<float>(), static_cast<size_t>(L * D * 4), offset) ||
        !pread_all(fd_, tokens[b].data_ptr<int32_t>(), static_cast<size_t>(L * 4), offset + L * D * 4))
      throw std::runtime_error(path_ + ": cannot read record " + std::to_string(indices[b]));
  }
  return {hidden, tokens.to(torch::kLong)};
}

}  // namespace mtpc
