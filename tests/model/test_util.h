// Model-test helpers: small corpora and token files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/test_util.h"

namespace mtpc::testing {

// Packed uint16 little-endian token file.
inline void write_tokens(const std::string& path, const std::vector<uint16_t>& ids) {
  std::string bytes;
  for (uint16_t id : ids) {
    bytes.push_back(static_cast<char>(id & 0xff));
    bytes.push_back(static_cast<char>(id >> 8));
  }
  write_file(path, bytes);
}

// A small Python-like corpus (train.bin, val.bin) in `dir`: repetitive enough
// that a tiny model's loss falls within a few dozen steps.
inline void write_small_corpus(const std::string& dir, int repeats = 40) {
  std::filesystem::create_directories(dir);
  std::vector<uint16_t> train, val;
  for (int i = 0; i < repeats; ++i) {
    std::string text = "def add_" + std::to_string(i % 7) + "(a, b):\n    return a + b\n\n" +
                       "for i in range(" + std::to_string(i) + "):\n    print(i * 2)\n";
    for (unsigned char c : text) (i % 10 == 9 ? val : train).push_back(c);
    (i % 10 == 9 ? val : train).push_back(257);  // EOS
  }
  write_tokens(dir + "/train.bin", train);
  write_tokens(dir + "/val.bin", val);
}

}  // namespace mtpc::testing
