#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "base/gzip_file.h"

namespace mtpc {
namespace {

namespace fs = std::filesystem;

class ReadFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mtpc-read-file-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  fs::path dir_;
};

TEST_F(ReadFile, ReturnsTheBytesAsTheyAre) {
  const std::string bytes("a\0b\r\n\xff", 6);
  auto r = read_file(write("x.bin", bytes));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, bytes);
  auto empty = read_file(write("empty", ""));
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_EQ(*empty, "");
}

TEST_F(ReadFile, MissingFilesAndDirectoriesAreErrorsThatNameThePath) {
  const std::string missing = (dir_ / "nope.py").string();
  auto r = read_file(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(missing), std::string::npos) << r.status().message();
  auto d = read_file(dir_.string());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("not a file"), std::string::npos) << d.status().message();
}

TEST_F(ReadFile, MaybeGzDecompressesGzipAndPassesPlainFilesThrough) {
  const std::string gz = (dir_ / "t.gz").string();
  gzFile f = gzopen(gz.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzputs(f, "hello\n"), 6);
  gzclose(f);
  auto r = read_file_maybe_gz(gz);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "hello\n");
  auto plain = read_file_maybe_gz(write("p.txt", "plain"));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, "plain");
  // read_file gives the compressed bytes unchanged.
  auto raw = read_file(gz);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->substr(0, 2), std::string("\x1f\x8b", 2));
}

}  // namespace
}  // namespace mtpc
