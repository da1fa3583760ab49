// The restricted .pth reader against files torch.save and zipfile wrote
// (tests/model/pth_fixtures.py): values, dtypes, strides and offsets as torch
// reports them; ZIP64; and refusal of every global a state dict does not need.
#include "model/checkpoint/pth_reader.h"

#include <cstring>
#include <filesystem>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "python_fixture.h"

namespace mtpc {
namespace {

using testing::read_file;
using testing::TempDir;

// Reads element `i` (row-major over the shape) of a tensor through its
// strides, as double.
double element(const PthTensor& t, int64_t i) {
  int64_t offset = 0;
  for (size_t d = t.shape.size(); d-- > 0;) {
    offset += (i % t.shape[d]) * t.strides[d];
    i /= t.shape[d];
  }
  const uint8_t* p = t.data() + offset * static_cast<int64_t>(dtype_size(t.dtype));
  switch (t.dtype) {
    case DType::F32: { float f; std::memcpy(&f, p, 4); return f; }
    case DType::F64: { double f; std::memcpy(&f, p, 8); return f; }
    case DType::F16: {
      uint16_t h; std::memcpy(&h, p, 2);
      const int e = (h >> 10) & 31, m = h & 1023;
      const double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
      return (h & 0x8000) ? -v : v;
    }
    case DType::BF16: {
      uint16_t h; std::memcpy(&h, p, 2);
      uint32_t bits = static_cast<uint32_t>(h) << 16; float f; std::memcpy(&f, &bits, 4); return f;
    }
    case DType::I64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case DType::I32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    default: ADD_FAILURE() << "unexpected dtype"; return 0;
  }
}

const char* torch_dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::F64: return "float64";
    case DType::I64: return "int64";
    case DType::I32: return "int32";
    default: return "?";
  }
}

class PthReaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new TempDir();
    error_ = new std::string();
    fixture_ = new std::string(testing::cached_python_fixture("pth_fixtures.py", error_));
  }
  static void TearDownTestSuite() {
    delete scratch_;
    delete error_;
    delete fixture_;
  }
  void SetUp() override { ASSERT_EQ(*error_, "") << "fixture script failed"; }
  // A file of the generated fixture (shared: read only).
  std::string path(const std::string& name) const { return *fixture_ + "/" + name; }
  // A file of this test process's own.
  std::string scratch(const std::string& name) const { return *scratch_ / name; }

  // Opens every tensor of `file` and checks it against expected.json.
  void expect_matches_torch(const std::string& file) {
    auto pth = PthFile::open(path(file));
    ASSERT_TRUE(pth.ok()) << pth.status().message();
    auto expected = nlohmann::json::parse(read_file(path("expected.json")));
    EXPECT_EQ(pth->tensors().size(), expected.size());
    for (auto& [name, e] : expected.items()) {
      const PthTensor* t = pth->find(name);
      ASSERT_NE(t, nullptr) << name;
      EXPECT_EQ(torch_dtype_name(t->dtype), e["dtype"].get<std::string>()) << name;
      EXPECT_EQ(t->shape, e["shape"].get<std::vector<int64_t>>()) << name;
      auto values = e["values"].get<std::vector<double>>();
      ASSERT_EQ(t->numel(), static_cast<int64_t>(values.size())) << name;
      for (size_t i = 0; i < values.size(); ++i)
        ASSERT_EQ(element(*t, static_cast<int64_t>(i)), values[i]) << name << "[" << i << "]";
    }
  }

  static TempDir* scratch_;
  static std::string* error_;
  static std::string* fixture_;
};
TempDir* PthReaderTest::scratch_ = nullptr;
std::string* PthReaderTest::fixture_ = nullptr;
std::string* PthReaderTest::error_ = nullptr;

TEST_F(PthReaderTest, ReadsWhatTorchSaveWrote) {
  expect_matches_torch("state.pth");
  auto pth = PthFile::open(path("state.pth"));
  ASSERT_TRUE(pth.ok());
  // Views keep torch's layout: the transpose is not contiguous, the slice
  // shares `big`'s storage at offset 3, the strided view steps by 3.
  EXPECT_FALSE(pth->find("transposed")->is_contiguous());
  EXPECT_EQ(pth->find("transposed")->strides, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(pth->find("slice")->storage_offset, 3);
  EXPECT_EQ(pth->find("slice")->storage_key, pth->find("big")->storage_key);
  EXPECT_EQ(pth->find("strided")->strides, (std::vector<int64_t>{3}));
  EXPECT_TRUE(pth->find("f32")->is_contiguous());
}

TEST_F(PthReaderTest, ReadsZip64Archives) {
  // The repacked file must really carry ZIP64 records: a ZIP64 end record and
  // ZIP64 extra fields (id 0x0001) in the central directory.
  const std::string raw = read_file(path("zip64.pth"));
  ASSERT_NE(raw.find(std::string("PK\x06\x06", 4)), std::string::npos);
  ASSERT_NE(raw.find(std::string("PK\x01\x02", 4)), std::string::npos);
  const size_t central = raw.find(std::string("PK\x01\x02", 4));
  EXPECT_EQ(std::memcmp(raw.data() + central + 20, "\xff\xff\xff\xff\xff\xff\xff\xff", 8), 0)
      << "central directory sizes are not saturated: the ZIP64 path is not exercised";
  expect_matches_torch("zip64.pth");
}

void expect_error(const std::string& file, const std::vector<std::string>& parts) {
  auto pth = PthFile::open(file);
  ASSERT_FALSE(pth.ok()) << file << " was accepted";
  const std::string& m = pth.status().message();
  EXPECT_NE(m.find(file), std::string::npos) << m;
  for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' not in: " << m;
}

TEST_F(PthReaderTest, RefusesAShellCommandWithoutRunningIt) {
  // The fixture proved the payload real: the same pickle, aimed elsewhere,
  // created control_ran when Python unpickled it.
  ASSERT_TRUE(std::filesystem::exists(path("control_ran")));
  expect_error(path("system.pth"), {"refused global 'posix.system'"});
  expect_error(path("system4.pth"), {"refused global 'posix.system'"});
  EXPECT_FALSE(std::filesystem::exists(path("pwned"))) << "the payload ran";
}

TEST_F(PthReaderTest, RefusesEveryOtherGlobal) {
  expect_error(path("eval.pth"), {"refused global '__builtin__.eval'"});
  // (protocol 2 spells builtins __builtin__.) A whole module, not a state dict:
  expect_error(path("module.pth"), {"refused global 'torch.nn.modules.linear.Linear'"});
}

TEST_F(PthReaderTest, MalformedArchivesAreClearErrors) {
  expect_error(path("truncated.pth"), {"truncated"});
  expect_error(path("short_storage.pth"), {"truncated storage", "data/0", "'f32'"});
  expect_error(path("missing_storage.pth"), {"tensor 'f32'", "has no", "data/0"});
  expect_error(path("deflated.pth"), {"is compressed"});
  expect_error(path("no-such.pth"), {"cannot open"});
  testing::write_file(scratch("empty.pth"), "");
  expect_error(scratch("empty.pth"), {"empty file"});
  testing::write_file(scratch("text.pth"), "this is not a zip archive at all, just text");
  expect_error(scratch("text.pth"), {"no zip end-of-central-directory record"});
}

// Pickles assembled by hand: the opcodes and shapes the machine must refuse.
Status unpickle(const std::string& bytes) {
  auto r = unpickle_state_dict(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.pkl");
  return r.ok() ? Status::Ok() : r.status();
}

TEST(PthUnpickleTest, BadPicklesAreClearErrors) {
  using namespace std::string_literals;
  auto has = [](const Status& s, const std::string& part) {
    return !s.ok() && s.message().find(part) != std::string::npos;
  };
  EXPECT_TRUE(has(unpickle("\x80\x02\xfe."s), "unknown or unsupported pickle opcode 0xfe"));
  EXPECT_TRUE(has(unpickle("\x80\x02}"s), "without STOP"));
  EXPECT_TRUE(has(unpickle("\x80\x02."s), "stops with 0 values"));
  EXPECT_TRUE(has(unpickle("\x80\x02K\x05."s), "holds a value of type int, not a state dict"));
  EXPECT_TRUE(has(unpickle("\x80\x02h\x07."s), "memo index 7 was never stored"));
  EXPECT_TRUE(has(unpickle("\x80\x02X\xff\xff\x00\x00" "ab."s), "runs past the pickle"));
  EXPECT_TRUE(has(unpickle("\x80\x02}X\x01\x00\x00\x00" "aK\x01s."s), "entry 'a' is of type int, not a tensor"));
  EXPECT_TRUE(has(unpickle("\x80\x02" "csubprocess\nPopen\n."s), "refused global 'subprocess.Popen'"));
  EXPECT_TRUE(has(unpickle("\x80\x02" "ctorch\nload\n."s), "refused global 'torch.load'"));
  EXPECT_TRUE(has(unpickle("\x80\x02" "ctorch\nFloatStorage\n)R."s), "storages come only from persistent ids"));
  // A tensor reaching past its storage: 4 elements of a 3-element storage.
  const std::string storage = "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x03tQ"s;
  EXPECT_TRUE(has(unpickle("\x80\x02}X\x01\x00\x00\x00w" "ctorch._utils\n_rebuild_tensor_v2\n("s + storage +
                           "K\x00K\x04\x85K\x01\x85\x89)tRs."s),
                  "reaches element 3 of storage '0', which holds 3"));
  // A pickle built to exhaust memory: three million empty tuples.
  EXPECT_TRUE(has(unpickle("\x80\x02"s + std::string(3'000'000, ')') + "."), "more than 2097152 objects"));
  EXPECT_TRUE(unpickle("\x80\x02}X\x01\x00\x00\x00w" "ctorch._utils\n_rebuild_tensor_v2\n("s + storage +
                       "K\x00K\x03\x85K\x01\x85\x89)tRs."s).ok());
}

// Random corruptions of a real file: every one is an error value or a valid
// result, never a crash, hang or overread (run it under ASan to check the last).
TEST_F(PthReaderTest, CorruptedFilesNeverCrash) {
  const std::string raw = read_file(path("state.pth"));
  std::mt19937 rng(7);
  int accepted = 0;
  unsigned checksum = 0;
  for (int i = 0; i < 300; ++i) {
    std::string bytes = raw;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) bytes.resize(rng() % bytes.size());
    const std::string p = scratch("corrupt.pth");
    testing::write_file(p, bytes);
    auto pth = PthFile::open(p);
    if (pth.ok()) {
      ++accepted;
      // In bounds by contract: touch the first byte of every element.
      for (const auto& [name, t] : pth->tensors())
        for (int64_t k = 0; k < t.numel(); ++k) {
          int64_t offset = 0, rest = k;
          for (size_t d = t.shape.size(); d-- > 0;) {
            offset += (rest % t.shape[d]) * t.strides[d];
            rest /= t.shape[d];
          }
          checksum += t.data()[offset * static_cast<int64_t>(dtype_size(t.dtype))];
        }
    } else {
      EXPECT_NE(pth.status().message().find(p), std::string::npos) << pth.status().message();
    }
  }
  EXPECT_LT(accepted, 300);
  (void)checksum;
}

}  // namespace
}  // namespace mtpc
