#include "lsp/log.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

namespace mtpc::lsp {

Logger::Logger() : out_(stderr) {}

Logger::~Logger() {
  if (owned_) std::fclose(out_);
}

Status Logger::open_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) return Status::Error("cannot open log file " + path + ": " + std::strerror(errno));
  std::lock_guard<std::mutex> lock(mu_);
  if (owned_) std::fclose(out_);
  out_ = f;
  owned_ = true;
  return Status::Ok();
}

void Logger::line(const std::string& text) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  std::lock_guard<std::mutex> lock(mu_);
  std::fprintf(out_, "%s.%03d %s\n", stamp, ms, text.c_str());
  std::fflush(out_);
}

}  // namespace mtpc::lsp
