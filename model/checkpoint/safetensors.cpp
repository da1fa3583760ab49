#include "model/checkpoint/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "base/atomic_file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp copies tensor bytes verbatim and needs a little-endian host"
#endif

namespace mtpc {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}
namespace {

using json = nlohmann::json;

struct DTypeSpec {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeSpec kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::BF16, "BF16", 2}, {DType::F16, "F16", 2},
    {DType::F64, "F64", 8}, {DType::I64, "I64", 8},   {DType::I32, "I32", 4},
    {DType::I16, "I16", 2}, {DType::I8, "I8", 1},     {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
};

const DTypeSpec& spec(DType d) { return kDTypes[static_cast<int>(d)]; }

std::string quoted(const std::string& name) { return "tensor '" + name + "'"; }

// product(shape) * elem_size, or nullopt on a negative dim or overflow.
std::optional<size_t> byte_count(const std::vector<int64_t>& shape, size_t elem_size) {
  size_t n = elem_size;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return std::nullopt;
  }
  return n;
}

// Reads exactly `n` bytes at `offset`; returns 0, errno, or -1 on early EOF.
int pread_all(int fd, uint8_t* out, size_t n, off_t offset) {
  while (n > 0) {
    ssize_t got = ::pread(fd, out, n, offset);
    if (got < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (got == 0) return -1;
    out += got;
    n -= static_cast<size_t>(got);
    offset += got;
  }
  return 0;
}

// A JSON value as a non-negative integer that fits size_t.
std::optional<size_t> as_size(const json& v) {
  if (v.is_number_unsigned()) return static_cast<size_t>(v.get<uint64_t>());
  return std::nullopt;
}

Status parse_entry(const std::string& name, const json& entry, TensorInfo* out) {
  const std::string who = quoted(name);
  if (!entry.is_object()) return Status::Error(who + ": entry is not a JSON object");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(field)) return Status::Error(who + ": missing \"" + field + "\"");
  }

  const json& dtype = entry["dtype"];
  if (!dtype.is_string()) return Status::Error(who + ": \"dtype\" is not a string");
  std::optional<DType> d = parse_dtype(dtype.get<std::string>());
  if (!d) {
    std::string known;
    for (const DTypeSpec& k : kDTypes) known += std::string(known.empty() ? "" : ", ") + k.name;
    return Status::Error(who + ": unknown dtype '" + dtype.get<std::string>() + "' (supported: " +
                         known + ")");
  }
  out->dtype = *d;

  const json& shape = entry["shape"];
  if (!shape.is_array()) return Status::Error(who + ": \"shape\" is not an array");
  out->shape.clear();
  for (size_t i = 0; i < shape.size(); ++i) {
    const json& dim = shape[i];
    std::string where = who + ": shape[" + std::to_string(i) + "]";
    if (dim.is_number_integer() && !dim.is_number_unsigned()) {
      return Status::Error(where + " is negative (" + std::to_string(dim.get<int64_t>()) + ")");
    }
    std::optional<size_t> v = as_size(dim);
    if (!v || *v > static_cast<uint64_t>(INT64_MAX)) {
      return Status::Error(where + " is not a non-negative integer: " + dim.dump());
    }
    out->shape.push_back(static_cast<int64_t>(*v));
  }

  const json& offs = entry["data_offsets"];
  if (!offs.is_array() || offs.size() != 2) {
    return Status::Error(who + ": \"data_offsets\" is not an array of two integers");
  }
  std::optional<size_t> begin = as_size(offs[0]), end = as_size(offs[1]);
  if (!begin || !end) {
    return Status::Error(who + ": \"data_offsets\" " + offs.dump() +
                         " are not non-negative integers");
  }
  if (*end < *begin) {
    return Status::Error(who + ": \"data_offsets\" " + offs.dump() + " end before begin");
  }
  out->offset = *begin;
  out->nbytes = *end - *begin;

  std::optional<size_t> want = byte_count(out->shape, spec(out->dtype).size);
  if (!want) return Status::Error(who + ": shape " + shape.dump() + " is too large");
  if (*want != out->nbytes) {
    return Status::Error(who + ": \"data_offsets\" " + offs.dump() + " span " +
                         std::to_string(out->nbytes) + " bytes but shape " + shape.dump() +
                         " of " + dtype_name(out->dtype) + " needs " + std::to_string(*want));
  }
  return Status::Ok();
}

// Parses the header and checks every tensor against a buffer of
// `buffer_size` bytes. Errors are not yet prefixed with the path.
Status parse_header(std::string_view text, size_t buffer_size,
                    std::map<std::string, TensorInfo>* tensors,
                    std::map<std::string, std::string>* metadata) {
  json header;
  try {
    header = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return Status::Error(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) return Status::Error("header is not a JSON object");

  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;
      if (!value.is_object()) return Status::Error("\"__metadata__\" is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          return Status::Error("\"__metadata__\" value for '" + mk + "' is not a string: " +
                               mv.dump());
        }
        (*metadata)[mk] = mv.get<std::string>();
      }
      continue;
    }
    TensorInfo info{};
    if (Status s = parse_entry(key, value, &info); !s.ok()) return s;
    if (info.offset + info.nbytes > buffer_size) {
      return Status::Error(quoted(key) + ": \"data_offsets\" " + value["data_offsets"].dump() +
                           " run past the end of the " + std::to_string(buffer_size) +
                           "-byte data buffer (file truncated?)");
    }
    tensors->emplace(key, std::move(info));
  }

  // The tensors must tile [0, buffer_size): sort by extent, then walk.
  std::vector<std::pair<const std::string*, const TensorInfo*>> order;
  for (const auto& [name, info] : *tensors) order.emplace_back(&name, &info);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(a.second->offset, a.second->offset + a.second->nbytes, *a.first) <
           std::make_tuple(b.second->offset, b.second->offset + b.second->nbytes, *b.first);
  });
  size_t covered = 0;
  const std::pair<const std::string*, const TensorInfo*>* prev = nullptr;
  for (const auto& entry : order) {
    const auto& [name, info] = entry;
    if (info->offset < covered) {
      auto extent = [](const TensorInfo* t) {
        return " [" + std::to_string(t->offset) + ", " + std::to_string(t->offset + t->nbytes) +
               ")";
      };
      return Status::Error(quoted(*name) + extent(info) + " overlaps " + quoted(*prev->first) +
                           extent(prev->second));
    }
    if (info->offset > covered) {
      return Status::Error("data buffer bytes [" + std::to_string(covered) + ", " +
                           std::to_string(info->offset) + ") are not covered by any tensor");
    }
    covered = info->offset + info->nbytes;
    prev = &entry;
  }
  if (covered != buffer_size) {
    return Status::Error("data buffer bytes [" + std::to_string(covered) + ", " +
                         std::to_string(buffer_size) + ") are not covered by any tensor");
  }
  return Status::Ok();
}

}  // namespace

size_t dtype_size(DType d) { return spec(d).size; }
const char* dtype_name(DType d) { return spec(d).name; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const DTypeSpec& s : kDTypes) {
    if (name == s.name) return s.dtype;
  }
  return std::nullopt;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

namespace {

// A private read-only view of a whole file; unmapped on destruction.
struct FileMapping {
  void* base = nullptr;
  size_t size = 0;
  ~FileMapping() {
    if (base != nullptr) ::munmap(base, size);
  }
};

}  // namespace

namespace {

struct OpenFile {
  int fd = -1;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens PATH read-only into `f`; it must be a regular file holding at least
// the 8-byte header length field. Returns its size.
Result<size_t> open_regular_file(const std::string& path, OpenFile& f) {
  auto fail = [&](const std::string& why) { return Status::Error(path + ": " + why); };
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return fail(std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) return fail("file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length field");
  return size;
}

// The header length field against the cap and the file's size.
Status check_header_length(uint64_t header_len, size_t size) {
  if (header_len > kMaxSafetensorsHeaderBytes)
    return Status::Error("header length " + std::to_string(header_len) + " exceeds the limit of " +
                         std::to_string(kMaxSafetensorsHeaderBytes) + " bytes (not a safetensors file?)");
  if (header_len > size - 8)
    return Status::Error("header length " + std::to_string(header_len) + " runs past the end of the " +
                         std::to_string(size) + "-byte file (file truncated?)");
  return Status::Ok();
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::map(const std::string& path) {
  auto fail = [&](const std::string& why) { return Status::Error(path + ": " + why); };
  OpenFile f;
  auto size_or = open_regular_file(path, f);
  if (!size_or.ok()) return size_or.status();
  const int fd = f.fd;
  const size_t size = *size_or;
  auto mapping = std::make_shared<FileMapping>();
  // PROT_WRITE on a private mapping only makes a stray write copy the page
  // instead of faulting; nothing reaches the file.
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (base == MAP_FAILED) return fail(std::string("cannot map: ") + std::strerror(errno));
  mapping->base = base;
  mapping->size = size;
  const uint8_t* bytes = static_cast<const uint8_t*>(base);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (Status h = check_header_length(header_len, size); !h.ok()) return h.wrap(path);
  SafetensorsFile file;
  file.buffer_ = bytes + 8 + header_len;
  std::string_view header(reinterpret_cast<const char*>(bytes + 8), header_len);
  Status s = parse_header(header, size - 8 - header_len, &file.tensors_, &file.metadata_);
  if (!s.ok()) return s.wrap(path);
  file.mapping_ = std::move(mapping);
  return file;
}

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto fail = [&](const std::string& why) { return Status::Error(path + ": " + why); };
  OpenFile f;
  auto size_or = open_regular_file(path, f);
  if (!size_or.ok()) return size_or.status();
  const int fd = f.fd;
  const size_t size = *size_or;

  uint8_t len_bytes[8];
  if (int err = pread_all(fd, len_bytes, 8, 0)) {
    return fail(std::string("cannot read header length: ") +
                (err < 0 ? "unexpected end of file" : std::strerror(err)));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (Status h = check_header_length(header_len, size); !h.ok()) return h.wrap(path);

  // Shift the whole file in memory so the data buffer starts 8-byte aligned
  // (new[] is at least 8-aligned) even when the header is not padded.
  const size_t shift = (8 - (8 + header_len) % 8) % 8;
  SafetensorsFile file;
  file.storage_.reset(new (std::nothrow) uint8_t[size + shift]);
  if (!file.storage_) return fail("out of memory reading " + std::to_string(size) + " bytes");
  uint8_t* bytes = file.storage_.get() + shift;
  if (int err = pread_all(fd, bytes, size, 0)) {
    return fail(std::string("cannot read: ") +
                (err < 0 ? "file shrank while reading" : std::strerror(err)));
  }
  file.buffer_ = bytes + 8 + header_len;

  std::string_view header(reinterpret_cast<const char*>(bytes + 8), header_len);
  Status s = parse_header(header, size - 8 - header_len, &file.tensors_, &file.metadata_);
  if (!s.ok()) return s.wrap(path);
  return file;
}

Status write_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  auto fail = [&](const std::string& why) { return Status::Error(path + ": " + why); };

  std::set<std::string> names;
  for (const TensorRef& t : tensors) {
    if (t.name == "__metadata__") return fail("tensor name '__metadata__' is reserved");
    if (!names.insert(t.name).second) return fail("duplicate " + quoted(t.name));
    std::optional<size_t> want = byte_count(t.shape, dtype_size(t.dtype));
    if (!want) return fail(quoted(t.name) + ": shape has a negative dim or is too large");
    if (*want != t.nbytes) {
      return fail(quoted(t.name) + ": nbytes " + std::to_string(t.nbytes) + " but shape of " +
                  dtype_name(t.dtype) + " needs " + std::to_string(*want));
    }
    if (t.nbytes > 0 && t.data == nullptr) return fail(quoted(t.name) + ": data is null");
  }

  // Largest elements first keeps every tensor aligned to its element size.
  std::vector<const TensorRef*> order;
  for (const TensorRef& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorRef* a, const TensorRef* b) {
    size_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });

  std::string header_text;
  try {
    json header = json::object();
    size_t offset = 0;
    for (const TensorRef* t : order) {
      header[t->name] = {{"dtype", dtype_name(t->dtype)},
                         {"shape", t->shape},
                         {"data_offsets", {offset, offset + t->nbytes}}};
      offset += t->nbytes;
    }
    if (!metadata.empty()) header["__metadata__"] = metadata;
    header_text = header.dump();  // throws on names/values that are not UTF-8
  } catch (const json::exception& e) {
    return fail(std::string("cannot encode header: ") + e.what());
  }
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  char len_bytes[8];
  uint64_t n = header_text.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);

  std::vector<std::string_view> pieces{std::string_view(len_bytes, 8), header_text};
  for (const TensorRef* t : order) {
    pieces.emplace_back(static_cast<const char*>(t->data), t->nbytes);
  }
  return write_file_atomic(path, pieces);
}

}  // namespace mtpc
