// Helpers shared by the model tests: temporary directories, running the real
// binary, writing small corpora.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace mtpc::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mtpc-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // -signal when killed
  std::string output;  // stdout and stderr together
};

inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) r.output.append(buf.data(), n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return r;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

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
