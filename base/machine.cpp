#include "base/machine.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace mtpc {

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

std::string cpu_description() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown";
}

nlohmann::json machine_description(const std::string& device, int threads) {
  struct utsname u {};
  uname(&u);
  return {{"cpu", cpu_description()},
          {"cores", hardware_threads()},
          {"threads", threads == 0 ? hardware_threads() : threads},
          {"device", device},
          {"kernel", std::string(u.release)}};
}

std::string executable_path() {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  return n > 0 ? std::string(exe, static_cast<size_t>(n)) : std::string();
}

ProcessMemory process_memory() {
  ProcessMemory m;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    auto kib = [&line](const char* key) -> double {
      if (line.rfind(key, 0) != 0) return -1;
      try {
        return std::stod(line.substr(std::string(key).size())) / 1024.0;
      } catch (const std::exception&) {
        return -1;
      }
    };
    if (double v = kib("VmRSS:"); v >= 0) m.rss_mib = v;
    if (double v = kib("VmHWM:"); v >= 0) m.peak_rss_mib = v;
  }
  return m;
}

}  // namespace mtpc
