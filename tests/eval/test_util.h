// Eval-test helpers: the generation tests' model, reading lines, looking for
// processes.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/fixture_model.h"
#include "common/test_util.h"

namespace mtpc::testing {

// The fixture's small random model (seed 17) with a context long enough for
// HumanEval prompts; MBPP's 3-shot prompts are cut.
inline Status write_generation_model(const std::string& dir) {
  FixtureModel o;
  o.max_seq_len = 1024;
  return write_fixture_model(dir, o);
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Pids of live processes whose command line contains `marker`.
inline std::vector<int> processes_with_cmdline(const std::string& marker) {
  std::vector<int> pids;
  DIR* proc = opendir("/proc");
  if (!proc) return pids;
  while (dirent* e = readdir(proc)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::string cmdline = read_file(std::string("/proc/") + e->d_name + "/cmdline");
    for (char& c : cmdline) c = c == '\0' ? ' ' : c;
    std::string stat = read_file(std::string("/proc/") + e->d_name + "/stat");
    size_t close = stat.rfind(')');
    bool zombie = close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
    if (!zombie && cmdline.find(marker) != std::string::npos) pids.push_back(pid);
  }
  closedir(proc);
  return pids;
}

// Pids of live processes whose working directory is `dir` or below it.
inline std::vector<int> processes_under(const std::string& dir) {
  std::vector<int> pids;
  DIR* proc = opendir("/proc");
  if (!proc) return pids;
  while (dirent* e = readdir(proc)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::error_code ec;
    std::string cwd = std::filesystem::read_symlink(std::string("/proc/") + e->d_name + "/cwd", ec).string();
    if (!ec && cwd.rfind(dir, 0) == 0) pids.push_back(pid);
  }
  closedir(proc);
  return pids;
}

}  // namespace mtpc::testing
