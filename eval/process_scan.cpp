#include "eval/process_scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace mtpc::eval {
namespace {

bool read_small_file(const std::string& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out.clear();
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return !out.empty();
}

// "pid (comm) S ppid pgrp session ..."; comm may hold spaces and parens.
bool parse_stat(const std::string& stat, ProcessInfo& info) {
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  const char* p = stat.c_str() + close + 2;
  info.state = *p;
  char* end = nullptr;
  std::strtol(p + 1, &end, 10);          // ppid
  std::strtol(end, &end, 10);            // pgrp
  info.session = static_cast<pid_t>(std::strtol(end, &end, 10));
  return true;
}

bool parse_uid(const std::string& status, uid_t& uid) {
  size_t at = status.find("\nUid:");
  if (at == std::string::npos) return false;
  uid = static_cast<uid_t>(std::strtoul(status.c_str() + at + 5, nullptr, 10));
  return true;
}

}  // namespace

std::vector<ProcessInfo> list_processes() {
  std::vector<ProcessInfo> out;
  DIR* proc = ::opendir("/proc");
  if (!proc) return out;
  std::string stat, status;
  while (dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    ProcessInfo info;
    info.pid = static_cast<pid_t>(pid);
    std::string base = std::string("/proc/") + e->d_name;
    if (!read_small_file(base + "/stat", stat) || !parse_stat(stat, info)) continue;
    if (!read_small_file(base + "/status", status) || !parse_uid(status, info.uid)) continue;
    out.push_back(info);
  }
  ::closedir(proc);
  return out;
}

int count_processes_of_uid(uid_t uid) {
  int n = 0;
  for (const ProcessInfo& p : list_processes()) n += (p.uid == uid && p.state != 'Z');
  return n;
}

int kill_all_of_uid(uid_t uid, int wait_ms) {
  if (uid == 0 || ::geteuid() != 0) return count_processes_of_uid(uid);
  // vfork: the helper only makes raw syscalls while the calling thread
  // waits, so nothing of the (possibly large) harness is copied.
  pid_t helper = ::vfork();
  if (helper == 0) {
    if (::syscall(SYS_setresgid, uid, uid, uid) == 0 && ::syscall(SYS_setresuid, uid, uid, uid) == 0)
      ::kill(-1, SIGKILL);
    _exit(0);
  }
  if (helper > 0) {
    while (::waitpid(helper, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    int left = count_processes_of_uid(uid);
    if (left == 0 || std::chrono::steady_clock::now() >= deadline) return left;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int kill_session(pid_t session, int rounds) {
  int left = 0;
  for (int round = 0; round < rounds; ++round) {
    left = 0;
    for (const ProcessInfo& p : list_processes()) {
      if (p.session != session || p.state == 'Z') continue;
      ++left;
      ::kill(p.pid, SIGKILL);
    }
    if (left == 0) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return left;
}

}  // namespace mtpc::eval
