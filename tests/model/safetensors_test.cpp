#include "model/checkpoint/safetensors.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "base/atomic_file.h"

namespace mtpc {
namespace {

namespace fs = std::filesystem;

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file assembled by hand, exactly as the spec lays it out.
std::string spec_file(const std::string& header, const std::string& buffer) {
  return le64(header.size()) + header + buffer;
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

template <class T>
TensorRef ref(const std::string& name, DType dtype, std::vector<int64_t> shape,
              const std::vector<T>& v) {
  return TensorRef{name, dtype, std::move(shape), v.data(), v.size() * sizeof(T)};
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "mtpc_safetensors_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::set<std::string> dir_entries() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.insert(e.path().filename());
    return names;
  }

  void write_raw(const std::string& p, const std::string& bytes) const {
    std::ofstream(p, std::ios::binary) << bytes;
  }

  // Writes `bytes` as a file, opens it and returns the error (or a marker).
  std::string open_error(const std::string& bytes) const {
    const std::string p = path("bad.safetensors");
    write_raw(p, bytes);
    Result<SafetensorsFile> f = SafetensorsFile::open(p);
    if (f.ok()) return "<opened without error>";
    EXPECT_EQ(f.status().message().rfind(p + ": ", 0), 0u) << "error must name the file";
    return f.status().message();
  }

  std::string dir_;
};

void expect_tensor(const SafetensorsFile& f, const std::string& name, DType dtype,
                   const std::vector<int64_t>& shape, const std::string& bytes) {
  const TensorInfo* t = f.find(name);
  ASSERT_NE(t, nullptr) << name;
  EXPECT_EQ(t->dtype, dtype) << name;
  EXPECT_EQ(t->shape, shape) << name;
  ASSERT_EQ(t->nbytes, bytes.size()) << name;
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f.data(*t)), t->nbytes), bytes) << name;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data(*t)) % dtype_size(dtype), 0u) << name;
}

TEST(DType, NamesSizesAndParsingAgree) {
  for (DType d : {DType::F32, DType::BF16, DType::F16, DType::F64, DType::I64, DType::I32,
                  DType::I16, DType::I8, DType::U8, DType::BOOL}) {
    EXPECT_EQ(parse_dtype(dtype_name(d)), d);
  }
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_size(DType::I64), 8u);
  EXPECT_EQ(dtype_size(DType::BOOL), 1u);
  EXPECT_EQ(parse_dtype("f32"), std::nullopt);
  EXPECT_EQ(parse_dtype("F8_E4M3"), std::nullopt);
}

TEST_F(SafetensorsTest, RoundTripIsBitExactForEveryDtype) {
  uint32_t nan_payload = 0x7fc01234, neg_zero = 0x80000000, denormal = 0x00000001;
  std::vector<float> f32(6);
  std::memcpy(&f32[0], &nan_payload, 4);
  std::memcpy(&f32[1], &neg_zero, 4);
  std::memcpy(&f32[2], &denormal, 4);
  f32[3] = 1.5f, f32[4] = -3e38f, f32[5] = std::numeric_limits<float>::infinity();
  std::vector<uint16_t> bf16{0x3f80, 0xffff, 0x0001, 0x8000};
  std::vector<uint16_t> f16{0x3c00, 0x7e01, 0xfc00};
  std::vector<double> f64{1.0 / 3, -0.0, 1e308};
  std::vector<int64_t> i64{std::numeric_limits<int64_t>::min(), -1, 0,
                           std::numeric_limits<int64_t>::max()};
  std::vector<int32_t> i32{-7, 1 << 30};
  std::vector<int16_t> i16{-32768, 32767};
  std::vector<int8_t> i8{-128, 0, 127};
  std::vector<uint8_t> u8{0, 1, 2, 255, 128};
  std::vector<uint8_t> boolean{1, 0, 1};
  std::vector<float> scalar{42.5f};
  std::vector<int32_t> empty;
  std::map<std::string, std::string> metadata{{"format", "pt"}, {"note", "h\u00e9llo \"q\"\n"}};

  const std::string p = path("model.safetensors");
  Status s = write_safetensors(p,
                               {ref("layer.0.w", DType::F32, {2, 3}, f32),
                                ref("bf", DType::BF16, {2, 2}, bf16),
                                ref("half", DType::F16, {3}, f16),
                                ref("f64", DType::F64, {3, 1}, f64),
                                ref("i64", DType::I64, {4}, i64),
                                ref("i32", DType::I32, {2}, i32),
                                ref("i16", DType::I16, {1, 2}, i16),
                                ref("i8", DType::I8, {3}, i8),
                                ref("u8", DType::U8, {5}, u8),
                                ref("mask", DType::BOOL, {3}, boolean),
                                ref("scalar", DType::F32, {}, scalar),
                                ref("empty", DType::I32, {0, 4}, empty)},
                               metadata);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(dir_entries(), std::set<std::string>{"model.safetensors"}) << "temp file left";

  Result<SafetensorsFile> f = SafetensorsFile::open(p);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->tensors().size(), 12u);
  EXPECT_EQ(f->metadata(), metadata);
  expect_tensor(*f, "layer.0.w", DType::F32, {2, 3}, raw(f32));
  expect_tensor(*f, "bf", DType::BF16, {2, 2}, raw(bf16));
  expect_tensor(*f, "half", DType::F16, {3}, raw(f16));
  expect_tensor(*f, "f64", DType::F64, {3, 1}, raw(f64));
  expect_tensor(*f, "i64", DType::I64, {4}, raw(i64));
  expect_tensor(*f, "i32", DType::I32, {2}, raw(i32));
  expect_tensor(*f, "i16", DType::I16, {1, 2}, raw(i16));
  expect_tensor(*f, "i8", DType::I8, {3}, raw(i8));
  expect_tensor(*f, "u8", DType::U8, {5}, raw(u8));
  expect_tensor(*f, "mask", DType::BOOL, {3}, raw(boolean));
  expect_tensor(*f, "scalar", DType::F32, {}, raw(scalar));
  expect_tensor(*f, "empty", DType::I32, {0, 4}, "");
  EXPECT_EQ(f->find("missing"), nullptr);

  // Header padded to a multiple of 8 with spaces.
  std::ifstream in(p, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
}

TEST_F(SafetensorsTest, OverwritesExistingFileAndWritesEmptyFile) {
  const std::string p = path("m.safetensors");
  std::vector<float> a{1, 2, 3}, b{4};
  ASSERT_TRUE(write_safetensors(p, {ref("a", DType::F32, {3}, a)}).ok());
  ASSERT_TRUE(write_safetensors(p, {ref("b", DType::F32, {1}, b)}).ok());
  Result<SafetensorsFile> f = SafetensorsFile::open(p);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->find("a"), nullptr);
  expect_tensor(*f, "b", DType::F32, {1}, raw(b));

  ASSERT_TRUE(write_safetensors(p, {}).ok());
  f = SafetensorsFile::open(p);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_TRUE(f->metadata().empty());
}

TEST_F(SafetensorsTest, HandBuiltSpecFileParsesPaddedOrNot) {
  std::vector<float> w{1.5f, -2.0f};
  std::vector<int16_t> s{-7};
  const std::string buffer = raw(w) + raw(s);
  const std::string header =
      R"({"b":{"dtype":"I16","shape":[],"data_offsets":[8,10]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("__metadata__":{"format":"pt"}})";
  for (const std::string& h : {header, header + std::string((8 - header.size() % 8) % 8 + 8, ' ')}) {
    const std::string p = path("spec.safetensors");
    write_raw(p, spec_file(h, buffer));
    Result<SafetensorsFile> f = SafetensorsFile::open(p);
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ(f->tensors().size(), 2u);
    EXPECT_EQ(f->metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
    expect_tensor(*f, "a", DType::F32, {2}, raw(w));
    expect_tensor(*f, "b", DType::I16, {}, raw(s));
    EXPECT_EQ(f->find("a")->offset, 0u);
    EXPECT_EQ(f->find("b")->offset, 8u);
  }
}

TEST_F(SafetensorsTest, MissingAndShortFilesAreRejected) {
  Result<SafetensorsFile> f = SafetensorsFile::open(path("nope.safetensors"));
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find(path("nope.safetensors")), std::string::npos);
  EXPECT_NE(f.status().message().find("No such file or directory"), std::string::npos);

  EXPECT_NE(open_error("12345").find("shorter than the 8-byte header length"), std::string::npos);
  EXPECT_NE(open_error(le64(1000) + "{}").find("header length 1000 runs past the end"),
            std::string::npos);
  EXPECT_NE(open_error(le64(uint64_t{1} << 40) + "{}").find("exceeds the limit"),
            std::string::npos);
}

TEST_F(SafetensorsTest, EveryMalformedHeaderGetsItsOwnError) {
  const std::string f32x2 = std::string(8, '\0');
  struct Case {
    const char* header;
    size_t buffer_bytes;
    std::vector<const char*> expect;  // all must appear in the message
  };
  const Case cases[] = {
      {"{not json", 0, {"header is not valid JSON"}},
      {"[1, 2]", 0, {"header is not a JSON object"}},
      {R"({"w": 3})", 0, {"tensor 'w'", "not a JSON object"}},
      {R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8, {"tensor 'w'", "missing \"dtype\""}},
      {R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8, {"tensor 'w'", "missing \"shape\""}},
      {R"({"w":{"dtype":"F32","shape":[2]}})", 8, {"tensor 'w'", "missing \"data_offsets\""}},
      {R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8, {"\"dtype\" is not a string"}},
      {R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2,
       {"tensor 'w'", "unknown dtype 'F8_E4M3'"}},
      {R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", 8, {"\"shape\" is not an array"}},
      {R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8,
       {"tensor 'w'", "shape[0] is not a non-negative integer"}},
      {R"({"w":{"dtype":"F32","shape":[1,-2],"data_offsets":[0,8]}})", 8,
       {"tensor 'w'", "shape[1] is negative (-2)"}},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8,
       {"\"data_offsets\" is not an array of two integers"}},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":["0","8"]}})", 8,
       {"are not non-negative integers"}},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8,
       {"are not non-negative integers"}},
      {R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8, {"tensor 'w'", "end before begin"}},
      {R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8,
       {"tensor 'w'", "span 8 bytes", "needs 12"}},
      {R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8,
       {"tensor 'w'", "run past the end of the 8-byte data buffer", "truncated"}},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, {"tensor 'b' [4, 12) overlaps tensor 'a' [0, 8)"}},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
       12, {"bytes [4, 8) are not covered by any tensor"}},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8,
       {"bytes [4, 8) are not covered by any tensor"}},
      {R"({"__metadata__":{"k":1}})", 0, {"\"__metadata__\" value for 'k' is not a string"}},
      {R"({"__metadata__":["x"]})", 0, {"\"__metadata__\" is not a JSON object"}},
  };
  for (const Case& c : cases) {
    std::string msg = open_error(spec_file(c.header, std::string(c.buffer_bytes, '\0')));
    for (const char* want : c.expect) {
      EXPECT_NE(msg.find(want), std::string::npos)
          << "header: " << c.header << "\nmessage: " << msg << "\nwanted: " << want;
    }
  }
}

TEST_F(SafetensorsTest, WriterRefusesBadInputAndCreatesNothing) {
  std::vector<float> two{1, 2};
  const std::string p = path("w.safetensors");
  auto error_of = [&](const std::vector<TensorRef>& ts) {
    Status s = write_safetensors(p, ts);
    return s.ok() ? std::string("<ok>") : s.message();
  };
  EXPECT_NE(error_of({ref("a", DType::F32, {2}, two), ref("a", DType::F32, {2}, two)})
                .find("duplicate tensor 'a'"),
            std::string::npos);
  EXPECT_NE(error_of({ref("a", DType::F32, {3}, two)}).find("nbytes 8 but shape of F32 needs 12"),
            std::string::npos);
  EXPECT_NE(error_of({ref("a", DType::F32, {-1, -2}, two)}).find("negative dim"),
            std::string::npos);
  EXPECT_NE(error_of({ref("__metadata__", DType::F32, {2}, two)}).find("reserved"),
            std::string::npos);
  EXPECT_TRUE(dir_entries().empty());

  Status s = write_safetensors(path("no/such/dir/w.safetensors"), {ref("a", DType::F32, {2}, two)});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no/such/dir/w.safetensors"), std::string::npos);
  EXPECT_NE(s.message().find("No such file or directory"), std::string::npos);
}

// Runs the writer in a child whose file size limit is 64 KiB, so write(2)
// fails with EFBIG midway through a 1 MiB tensor.
TEST_F(SafetensorsTest, WriteFailureSurfacesAndLeavesOldFileIntact) {
  const std::string p = path("big.safetensors");
  std::vector<uint8_t> old(16, 7);
  ASSERT_TRUE(write_safetensors(p, {ref("old", DType::U8, {16}, old)}).ok());
  std::vector<uint8_t> big(1 << 20, 1);

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // child: no gtest macros, report through the pipe
    ::close(fds[0]);
    std::string msg;
    int code = 2;
    struct rlimit lim {};
    lim.rlim_cur = lim.rlim_max = 64 * 1024;
    if (::signal(SIGXFSZ, SIG_IGN) == SIG_ERR || ::setrlimit(RLIMIT_FSIZE, &lim) != 0) {
      msg = std::string("child setup failed: ") + std::strerror(errno);
    } else {
      Status s = write_safetensors(p, {ref("big", DType::U8, {1 << 20}, big)});
      msg = s.message();
      code = s.ok() ? 0 : 1;
    }
    ssize_t ignored = ::write(fds[1], msg.data(), msg.size());
    (void)ignored;
    ::_exit(code);
  }
  ::close(fds[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, n);
  ::close(fds[0]);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus)) << "child died, signal " << WTERMSIG(wstatus);
  EXPECT_EQ(WEXITSTATUS(wstatus), 1) << msg;

  EXPECT_EQ(msg.rfind(p + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("File too large"), std::string::npos) << msg;
  EXPECT_NE(msg.find(".tmp-" + std::to_string(pid)), std::string::npos) << msg;
  EXPECT_EQ(dir_entries(), std::set<std::string>{"big.safetensors"}) << "temp file left behind";
  Result<SafetensorsFile> f = SafetensorsFile::open(p);
  ASSERT_TRUE(f.ok()) << f.status().message();
  expect_tensor(*f, "old", DType::U8, {16}, raw(old));
}

TEST_F(SafetensorsTest, WriteFileAtomicReplacesContents) {
  const std::string p = path("config.json");
  ASSERT_TRUE(write_file_atomic(p, "{\"a\": 1}").ok());
  ASSERT_TRUE(write_file_atomic(p, "{}").ok());
  std::ifstream in(p);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "{}");
  EXPECT_EQ(dir_entries(), std::set<std::string>{"config.json"});
  EXPECT_TRUE(fsync_dir(dir_).ok());
  Status s = fsync_dir(path("absent"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("No such file or directory"), std::string::npos);
}

// This process's read counters (/proc/self/io): bytes through read-like
// calls and the number of those calls.
struct ReadCounters {
  long long bytes = -1, calls = -1;
};
ReadCounters read_counters() {
  ReadCounters c;
  std::ifstream io("/proc/self/io");
  for (std::string key; io >> key;) {
    long long v = 0;
    io >> v;
    if (key == "rchar:") c.bytes = v;
    if (key == "syscr:") c.calls = v;
  }
  return c;
}

// What keeps a big checkpoint quick to open: the file is read once, in a
// few large reads, and nothing else is copied or re-read. (The time to load
// a checkpoint is what `mtpc bench load --preset small` prints.)
TEST_F(SafetensorsTest, FiftyMegabyteFileIsReadOnceInLargeReads) {
  std::vector<float> w(50 * 1024 * 1024 / 4);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i);
  const std::string p = path("big.safetensors");
  ASSERT_TRUE(write_safetensors(p, {ref("w", DType::F32, {int64_t(w.size())}, w)}).ok());
  const long long file_bytes = static_cast<long long>(std::filesystem::file_size(p));
  const ReadCounters before = read_counters();
  ASSERT_GE(before.bytes, 0) << "no /proc/self/io";
  Result<SafetensorsFile> f = SafetensorsFile::open(p);
  const ReadCounters after = read_counters();
  ASSERT_TRUE(f.ok()) << f.status().message();
  // The first read_counters() call's own read of /proc/self/io is counted
  // in `after`: allow it a page and a few calls.
  EXPECT_GE(after.bytes - before.bytes, file_bytes);
  EXPECT_LE(after.bytes - before.bytes, file_bytes + 4096) << "the file was read more than once";
  EXPECT_LE(after.calls - before.calls, 16) << "the file was read in small pieces";
  const TensorInfo* t = f->find("w");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::memcmp(f->data(*t), w.data(), t->nbytes), 0);
}

// Python's safetensors package is not installable here (no PyPI, no Debian
// package), so a stdlib-only script parses the file the way the spec says and
// decodes every value; its printout must match.
constexpr const char* kSpecReader = R"PY(
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', data[:8])
assert n % 8 == 0, 'header not padded to 8'
header = json.loads(data[8:8 + n].decode('utf-8'))
buf = data[8 + n:]
meta = header.pop('__metadata__', {})
fmt = {'F64': 'd', 'F32': 'f', 'F16': 'e', 'I64': 'q', 'I32': 'i', 'I16': 'h',
       'I8': 'b', 'U8': 'B', 'BOOL': '?'}
size = {'F64': 8, 'I64': 8, 'F32': 4, 'I32': 4, 'F16': 2, 'BF16': 2, 'I16': 2,
        'I8': 1, 'U8': 1, 'BOOL': 1}
end = 0
for name, t in sorted(header.items(), key=lambda kv: kv[1]['data_offsets']):
    b, e = t['data_offsets']
    assert b == end, 'hole or overlap at ' + name
    end = e
    count = 1
    for d in t['shape']:
        count *= d
    assert e - b == count * size[t['dtype']], 'size mismatch ' + name
    assert b % size[t['dtype']] == 0, 'misaligned ' + name
assert end == len(buf), 'buffer not covered'
for name, t in sorted(header.items()):
    b, e = t['data_offsets']
    raw = buf[b:e]
    if t['dtype'] == 'BF16':
        vals = [struct.unpack('<f', struct.pack('<I', h << 16))[0]
                for (h,) in struct.iter_unpack('<H', raw)]
    else:
        vals = list(struct.unpack('<%d%s' % (len(raw) // size[t['dtype']], fmt[t['dtype']]), raw))
    print(name, t['dtype'], t['shape'], vals)
print('__metadata__', json.dumps(meta, sort_keys=True))
)PY";

TEST_F(SafetensorsTest, StdlibPythonSpecReaderAgrees) {
  const char* python = "/usr/bin/python3";
  ASSERT_EQ(::access(python, X_OK), 0) << python << " not found (scripts/setup installs python3)";
  std::vector<float> w{1.5f, -2.0f, 0.25f, 8.0f};
  std::vector<uint16_t> h{0x3800, 0xc000}, bf{0x3f80};
  std::vector<double> d{3.0};
  std::vector<int64_t> i{-5, int64_t{1} << 40};
  std::vector<int32_t> j{-1}, z;
  std::vector<int16_t> k{300};
  std::vector<int8_t> m{-128, 127};
  std::vector<uint8_t> u{0, 1, 255}, t{1, 0, 1};
  const std::string p = path("py.safetensors");
  ASSERT_TRUE(write_safetensors(p,
                                {ref("w", DType::F32, {2, 2}, w), ref("h", DType::F16, {2}, h),
                                 ref("bf", DType::BF16, {1}, bf), ref("d", DType::F64, {}, d),
                                 ref("i", DType::I64, {2}, i), ref("j", DType::I32, {1}, j),
                                 ref("k", DType::I16, {1}, k), ref("m", DType::I8, {2}, m),
                                 ref("u", DType::U8, {3}, u), ref("t", DType::BOOL, {3}, t),
                                 ref("z", DType::I32, {0, 3}, z)},
                                {{"format", "pt"}})
                  .ok());
  const std::string script = path("reader.py");
  write_raw(script, kSpecReader);
  std::string cmd = std::string(python) + " " + script + " " + p + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  int rc = ::pclose(pipe);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(out,
            "bf BF16 [1] [1.0]\n"
            "d F64 [] [3.0]\n"
            "h F16 [2] [0.5, -2.0]\n"
            "i I64 [2] [-5, 1099511627776]\n"
            "j I32 [1] [-1]\n"
            "k I16 [1] [300]\n"
            "m I8 [2] [-128, 127]\n"
            "t BOOL [3] [True, False, True]\n"
            "u U8 [3] [0, 1, 255]\n"
            "w F32 [2, 2] [1.5, -2.0, 0.25, 8.0]\n"
            "z I32 [0, 3] []\n"
            "__metadata__ {\"format\": \"pt\"}\n");
}

}  // namespace
}  // namespace mtpc
