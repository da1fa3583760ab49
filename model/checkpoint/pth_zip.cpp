// The ZIP directory of a PyTorch checkpoint, and PthFile::open, which maps
// the file and joins the pickle's tensors to their storage entries.
// The unpickler is in pth_unpickle.cpp.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "model/checkpoint/pth_reader.h"

namespace mtpc {
namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEndSize = 22, kZip64LocatorSize = 20, kZip64EndSize = 56;
constexpr size_t kCentralHeaderSize = 46, kLocalHeaderSize = 30;

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t u64(const uint8_t* p) { return u32(p) | (static_cast<uint64_t>(u32(p + 4)) << 32); }

// [offset, offset + length) lies inside [0, size).
bool inside(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

}  // namespace

Result<std::map<std::string, ZipEntry>> read_zip_directory(const uint8_t* data, size_t size,
                                                           const std::string& source) {
  auto error = [&](const std::string& what) { return Status::Error(source + ": " + what); };
  if (size < kEndSize) return error("too short to be a zip archive (" + std::to_string(size) + " bytes)");
  // The end record sits before a comment of at most 65535 bytes.
  size_t end = SIZE_MAX;
  const size_t lowest = size - kEndSize > 65535 ? size - kEndSize - 65535 : 0;
  for (size_t pos = size - kEndSize + 1; pos-- > lowest;) {
    if (u32(data + pos) == kEndSig && pos + kEndSize + u16(data + pos + 20) == size) {
      end = pos;
      break;
    }
  }
  if (end == SIZE_MAX) return error("no zip end-of-central-directory record (truncated or not a zip archive)");
  const uint8_t* e = data + end;
  if (u16(e + 4) != 0 || u16(e + 6) != 0) return error("multi-disk zip archives are not supported");
  uint64_t entries = u16(e + 10), cd_size = u32(e + 12), cd_offset = u32(e + 16);
  if (end >= kZip64LocatorSize && u32(data + end - kZip64LocatorSize) == kZip64LocatorSig) {
    const uint64_t z = u64(data + end - kZip64LocatorSize + 8);
    if (!inside(z, kZip64EndSize, end) || u32(data + z) != kZip64EndSig)
      return error("ZIP64 locator points at offset " + std::to_string(z) + ", where there is no ZIP64 end record");
    entries = u64(data + z + 32);
    cd_size = u64(data + z + 40);
    cd_offset = u64(data + z + 48);
  } else if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    return error("zip end record needs ZIP64 fields, but there is no ZIP64 locator");
  }
  if (!inside(cd_offset, cd_size, size))
    return error("central directory [" + std::to_string(cd_offset) + ", +" + std::to_string(cd_size) +
                 ") runs past the end of the file (" + std::to_string(size) + " bytes): truncated?");
  if (entries > cd_size / kCentralHeaderSize)
    return error("central directory claims " + std::to_string(entries) + " entries in " +
                 std::to_string(cd_size) + " bytes");

  std::map<std::string, ZipEntry> out;
  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < entries; ++i) {
    if (!inside(pos, kCentralHeaderSize, cd_end) || u32(data + pos) != kCentralHeaderSig)
      return error("central directory entry " + std::to_string(i) + " is malformed");
    const uint8_t* h = data + pos;
    const uint16_t flags = u16(h + 8), method = u16(h + 10);
    const uint16_t name_len = u16(h + 28), extra_len = u16(h + 30), comment_len = u16(h + 32);
    uint64_t compressed = u32(h + 20), uncompressed = u32(h + 24), local = u32(h + 42);
    if (!inside(pos + kCentralHeaderSize, uint64_t{name_len} + extra_len + comment_len, cd_end))
      return error("central directory entry " + std::to_string(i) + " runs past the directory");
    std::string name(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_len);
    // ZIP64 extra field: the 64-bit values of the fields saturated above, in order.
    const uint8_t* extra = h + kCentralHeaderSize + name_len;
    for (size_t x = 0; x + 4 <= extra_len;) {
      const uint16_t id = u16(extra + x), len = u16(extra + x + 2);
      if (x + 4 + len > extra_len) return error("entry '" + name + "': extra field runs past its header");
      if (id == 0x0001) {
        size_t at = x + 4;
        auto take = [&](uint64_t& field) -> bool {
          if (at + 8 > x + 4 + len) return false;
          field = u64(extra + at);
          at += 8;
          return true;
        };
        if ((uncompressed == 0xFFFFFFFF && !take(uncompressed)) ||
            (compressed == 0xFFFFFFFF && !take(compressed)) || (local == 0xFFFFFFFF && !take(local)))
          return error("entry '" + name + "': ZIP64 extra field is too short");
      }
      x += 4 + len;
    }
    if (flags & 0x1) return error("entry '" + name + "' is encrypted");
    if (method != 0)
      return error("entry '" + name + "' is compressed (method " + std::to_string(method) +
                   "); torch.save writes stored entries only");
    if (compressed != uncompressed)
      return error("entry '" + name + "': stored entry with different compressed and uncompressed sizes");
    if (!inside(local, kLocalHeaderSize, size) || u32(data + local) != kLocalHeaderSig)
      return error("entry '" + name + "': no local header at offset " + std::to_string(local) + " (truncated?)");
    const uint64_t start = local + kLocalHeaderSize + u16(data + local + 26) + u16(data + local + 28);
    if (!inside(start, uncompressed, size))
      return error("entry '" + name + "' (" + std::to_string(uncompressed) + " bytes at offset " +
                   std::to_string(start) + ") runs past the end of the file (" + std::to_string(size) +
                   " bytes): truncated?");
    if (!out.emplace(name, ZipEntry{start, uncompressed}).second)
      return error("entry '" + name + "' appears twice");
    pos += kCentralHeaderSize + name_len + extra_len + comment_len;
  }
  return out;
}

struct PthFile::Mapping {
  void* base = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (base != MAP_FAILED) ::munmap(base, size);
  }
};

int64_t PthTensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

bool PthTensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

const PthTensor* PthFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Result<PthFile> PthFile::open(const std::string& path) {
  try {
    return open_mapped(path);
  } catch (const std::exception& e) {  // allocation failures: never past this call
    return Status::Error(path + ": cannot read: " + e.what());
  }
}

Result<PthFile> PthFile::open_mapped(const std::string& path) {
  PthFile file;
  file.path_ = path;
  file.mapping_ = std::make_shared<Mapping>();
  {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::Error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return Status::Error(path + ": not a regular file");
    }
    if (st.st_size == 0) {
      ::close(fd);
      return Status::Error(path + ": empty file, not a zip archive");
    }
    file.mapping_->size = static_cast<size_t>(st.st_size);
    file.mapping_->base = ::mmap(nullptr, file.mapping_->size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (file.mapping_->base == MAP_FAILED) return Status::Error(path + ": cannot map: " + std::strerror(err));
  }
  const auto* bytes = static_cast<const uint8_t*>(file.mapping_->base);
  const size_t size = file.mapping_->size;

  auto entries = read_zip_directory(bytes, size, path);
  if (!entries.ok()) return entries.status();
  // torch.save names every entry ARCHIVE/...; data.pkl fixes ARCHIVE.
  std::string prefix;
  for (const auto& [name, entry] : *entries) {
    const std::string suffix = "data.pkl";
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        name.find('/') == name.size() - suffix.size() - 1) {
      if (!prefix.empty()) return Status::Error(path + ": more than one data.pkl in the archive");
      prefix = name.substr(0, name.size() - suffix.size());
    }
  }
  if (prefix.empty())
    return Status::Error(path + ": no ARCHIVE/data.pkl entry: not a PyTorch zip checkpoint "
                                "(legacy pre-1.6 torch.save files are not supported)");
  if (auto it = entries->find(prefix + "byteorder"); it != entries->end()) {
    std::string order(reinterpret_cast<const char*>(bytes + it->second.data_offset),
                      std::min<uint64_t>(it->second.size, 16));
    if (order != "little")
      return Status::Error(path + ": " + prefix + "byteorder is '" + order + "'; only little-endian is supported");
  }
  const ZipEntry& pkl = entries->at(prefix + "data.pkl");
  // A state dict's pickle is a few hundred bytes per tensor (a 70B model's is
  // under 1 MB); the cap bounds what a hostile one can make us allocate.
  constexpr uint64_t kMaxPickleBytes = uint64_t{64} << 20;
  if (pkl.size > kMaxPickleBytes)
    return Status::Error(path + ": " + prefix + "data.pkl is " + std::to_string(pkl.size) +
                         " bytes; a state dict's pickle is far smaller (limit 64 MiB)");
  auto pickled = unpickle_state_dict(bytes + pkl.data_offset, pkl.size, path + ": " + prefix + "data.pkl");
  if (!pickled.ok()) return pickled.status();

  for (auto& [name, p] : *pickled) {
    const std::string entry_name = prefix + "data/" + p.storage_key;
    auto it = entries->find(entry_name);
    if (it == entries->end())
      return Status::Error(path + ": tensor '" + name + "' uses storage '" + p.storage_key + "', but the archive has no " +
                           entry_name);
    const size_t elem = dtype_size(p.dtype);
    const uint64_t need = static_cast<uint64_t>(p.storage_numel) * elem;  // numel bounded by the unpickler
    if (it->second.size < need)
      return Status::Error(path + ": storage " + entry_name + " holds " + std::to_string(it->second.size) +
                           " bytes, but tensor '" + name + "' declares " + std::to_string(p.storage_numel) + " " +
                           dtype_name(p.dtype) + " elements (" + std::to_string(need) + " bytes): truncated storage");
    PthTensor t;
    t.dtype = p.dtype;
    t.shape = p.shape;
    t.strides = p.strides;
    t.storage_offset = p.storage_offset;
    t.storage_key = p.storage_key;
    t.storage = bytes + it->second.data_offset;
    t.storage_bytes = static_cast<size_t>(need);
    if (!file.tensors_.emplace(name, std::move(t)).second)
      return Status::Error(path + ": tensor '" + name + "' appears twice in data.pkl");
  }
  return file;
}

}  // namespace mtpc
