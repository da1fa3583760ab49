#include "model/training/distributed_env.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

extern char** environ;

namespace mtpc {
namespace {

std::optional<long> parse_int(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str() || *end != '\0') return std::nullopt;
  return v;
}

std::atomic<int> g_launcher_signal{0};
extern "C" void on_launcher_signal(int sig) { g_launcher_signal.store(sig); }

std::string describe_exit(int rank, int status) {
  if (WIFSIGNALED(status))
    return "rank " + std::to_string(rank) + " was killed by signal " + std::to_string(WTERMSIG(status)) +
           " (" + strsignal(WTERMSIG(status)) + ")";
  return "rank " + std::to_string(rank) + " exited with status " + std::to_string(WEXITSTATUS(status));
}

int exit_code_of(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace

Result<DistributedEnv> distributed_env_from_environment(
    const std::function<std::string(const std::string&)>& lookup) {
  auto get = [&](const std::string& name) -> std::string {
    if (lookup) return lookup(name);
    const char* v = std::getenv(name.c_str());
    return v ? v : "";
  };
  DistributedEnv env;
  const std::string world = get("WORLD_SIZE");
  if (world.empty()) return env;
  auto need_int = [&](const std::string& name, long lo, long hi) -> Result<int> {
    const std::string v = get(name);
    if (v.empty()) return Status::Error(name + " is not set (WORLD_SIZE is: a data-parallel run needs RANK, "
                                               "WORLD_SIZE, MASTER_ADDR and MASTER_PORT)");
    auto n = parse_int(v);
    if (!n || *n < lo || *n > hi)
      return Status::Error(name + "=" + v + ": expected an integer in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "]");
    return static_cast<int>(*n);
  };
  auto ws = need_int("WORLD_SIZE", 1, 65536);
  if (!ws.ok()) return ws.status();
  auto rank = need_int("RANK", 0, *ws - 1);
  if (!rank.ok()) return rank.status().wrap("WORLD_SIZE=" + world);
  auto port = need_int("MASTER_PORT", 1, 65535);
  if (!port.ok()) return port.status();
  env.enabled = true;
  env.world_size = *ws;
  env.rank = *rank;
  env.master_port = *port;
  env.master_addr = get("MASTER_ADDR");
  if (env.master_addr.empty()) return Status::Error("MASTER_ADDR is not set (WORLD_SIZE is)");
  env.local_rank = env.rank;
  if (!get("LOCAL_RANK").empty()) {
    auto lr = need_int("LOCAL_RANK", 0, 65535);
    if (!lr.ok()) return lr.status();
    env.local_rank = *lr;
  }
  env.socket_ifname = get("GLOO_SOCKET_IFNAME");
  return env;
}

Result<int> pick_free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::Error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    return Status::Error("cannot find a free port on 127.0.0.1: " + err);
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

Result<LaunchResult> launch_local_ranks(const std::vector<std::string>& argv, int ranks, int master_port,
                                        std::chrono::milliseconds grace,
                                        const std::function<void(const std::string&)>& progress) {
  if (argv.empty()) return Status::Error("launch_local_ranks: no program");
  if (ranks < 1) return Status::Error("--ranks must be >= 1, got " + std::to_string(ranks));
  if (master_port == 0) {
    auto p = pick_free_local_port();
    if (!p.ok()) return p.status();
    master_port = *p;
  }
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
    else std::fprintf(stderr, "%s\n", line.c_str());
  };

  // The parent's environment less the variables each rank gets its own value of.
  const std::vector<std::string> ours = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                                         "MASTER_ADDR", "MASTER_PORT"};
  std::vector<std::string> base_env;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    bool skip = false;
    for (const auto& k : ours) skip = skip || key == k;
    if (!skip) base_env.push_back(kv);
  }

  g_launcher_signal.store(0);
  struct sigaction sa {}, old_int{}, old_term{};
  sa.sa_handler = on_launcher_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  struct RestoreSignals {
    struct sigaction i, t;
    ~RestoreSignals() {
      ::sigaction(SIGINT, &i, nullptr);
      ::sigaction(SIGTERM, &t, nullptr);
    }
  } restore{old_int, old_term};

  std::vector<pid_t> pids(ranks, -1);
  std::vector<bool> done(ranks, false);
  auto signal_all = [&](int sig) {
    for (int r = 0; r < ranks; ++r)
      if (pids[r] > 0 && !done[r]) ::kill(pids[r], sig);
  };
  for (int r = 0; r < ranks; ++r) {
    std::vector<std::string> env = base_env;
    env.push_back("RANK=" + std::to_string(r));
    env.push_back("LOCAL_RANK=" + std::to_string(r));
    env.push_back("WORLD_SIZE=" + std::to_string(ranks));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(ranks));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + std::to_string(master_port));
    std::vector<char*> envp, args;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = argv;
    for (auto& s : argv_copy) args.push_back(s.data());
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), envp.data());
    if (rc != 0) {
      signal_all(SIGKILL);
      for (int k = 0; k < r; ++k) ::waitpid(pids[k], nullptr, 0);
      return Status::Error("cannot start rank " + std::to_string(r) + " (" + argv[0] + "): " + std::strerror(rc));
    }
    pids[r] = pid;
  }

  LaunchResult result;
  int remaining = ranks;
  bool forwarded = false;
  std::optional<std::chrono::steady_clock::time_point> kill_at;
  while (remaining > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < ranks; ++r) {
        if (pids[r] != pid || done[r]) continue;
        done[r] = true;
        --remaining;
        const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (failed && result.failure.empty()) {
          result.failure = describe_exit(r, status);
          result.exit_code = exit_code_of(status);
          if (remaining > 0 && !forwarded) {
            say(result.failure + "; stopping the other ranks");
            signal_all(SIGTERM);
            kill_at = std::chrono::steady_clock::now() + grace;
          }
        }
      }
      continue;
    }
    if (pid < 0 && errno != EINTR && errno != ECHILD) break;
    if (const int sig = g_launcher_signal.load(); sig != 0 && !forwarded) {
      forwarded = true;  // the ranks agree on the stop, checkpoint and exit
      signal_all(sig);
    }
    if (kill_at && std::chrono::steady_clock::now() >= *kill_at) {
      signal_all(SIGKILL);
      kill_at.reset();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return result;
}

}  // namespace mtpc
