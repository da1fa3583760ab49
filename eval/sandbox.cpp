#include "eval/sandbox.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "eval/process_scan.h"
#include "eval/sandbox_child.h"

namespace mtpc::eval {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using detail::ChildMode;
using detail::StatusMessage;

// Runs program.py from the current directory; see "How a pass is judged" in
// sandbox.h. Everything it needs after the sample ran is held in locals
// taken before the sample ran.
constexpr char kRunnerScript[] =
    "def _mtpc_run():\n"
    "    import os\n"
    "    nonce = os.read(3, 64)\n"
    "    os.close(3)\n"
    "    write = os.write\n"
    "    with open('program.py', 'rb') as f:\n"
    "        source = f.read()\n"
    "    code = compile(source, 'program.py', 'exec')\n"
    "    exec(code, {'__name__': '__sample__', '__builtins__': __builtins__})\n"
    "    write(4, nonce)\n"
    "_mtpc_run()\n";

// How long to keep reading after a timeout kill before giving up on the
// status pipe's end (it comes within milliseconds unless the kernel stalls).
constexpr int kKillGraceMs = 2000;
// Sample uids are drawn from [0x70000000, 0x7ffe0000): above the ranges
// distributions use and above systemd's container allocator (which stops at
// 0x6fff0000); a uid that any process holds at the moment is redrawn.
constexpr uint32_t kSampleUidBase = 0x70000000u;
constexpr uint32_t kSampleUidSpan = 0x0ffe0000u;
constexpr int kUidDraws = 8;

class StreamCapture {
 public:
  explicit StreamCapture(size_t limit) : keep_(std::max<size_t>(limit / 2, 256)) {}

  void append(const char* p, size_t n) {
    total_ += n;
    if (head_.size() < keep_) {
      size_t take = std::min(n, keep_ - head_.size());
      head_.append(p, take);
      p += take;
      n -= take;
    }
    if (n == 0) return;
    tail_.append(p, n);
    if (tail_.size() > 2 * keep_) tail_.erase(0, tail_.size() - keep_);
  }

  bool truncated() const { return total_ > head_.size() + tail_.size() || tail_.size() > keep_; }

  std::string text() const {
    if (!truncated()) return head_ + tail_;
    std::string tail = tail_.substr(tail_.size() - std::min(tail_.size(), keep_));
    size_t dropped = total_ - head_.size() - tail.size();
    return head_ + "\n[... " + std::to_string(dropped) + " bytes not kept ...]\n" + tail;
  }

  // The last non-blank line: for a traceback, the exception.
  std::string last_line() const {
    // Head and tail are one piece unless bytes were dropped between them.
    const bool contiguous = total_ == head_.size() + tail_.size();
    const std::string s = contiguous ? head_ + tail_ : tail_;
    size_t end = s.find_last_not_of(" \t\r\n");
    if (end == std::string::npos) return "";
    size_t begin = s.rfind('\n', end);
    begin = begin == std::string::npos ? 0 : begin + 1;
    constexpr size_t kMaxLine = 300;
    std::string line = s.substr(begin, std::min(end + 1 - begin, kMaxLine));
    if (end + 1 - begin > kMaxLine) line += "...";
    return line;
  }

 private:
  size_t keep_;
  size_t total_ = 0;
  std::string head_;
  std::string tail_;
};

struct Pipe {
  int r = -1;
  int w = -1;
  bool open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    r = fds[0];
    w = fds[1];
    return true;
  }
  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  ~Pipe() {
    close_fd(r);
    close_fd(w);
  }
};

std::string errno_text(int err) { return std::strerror(err); }

uint64_t random_u64() {
  uint64_t v = 0;
  if (::getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
    v = static_cast<uint64_t>(Clock::now().time_since_epoch().count()) * 0x9e3779b97f4a7c15ull;
  }
  return v;
}

std::string random_nonce() {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 2; ++i) {
    uint64_t v = random_u64();
    for (int j = 0; j < 16; ++j, v >>= 4) out.push_back(kHex[v & 15]);
  }
  return out;
}

Status write_whole_file(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error(path + ": " + errno_text(errno));
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      return Status::Error(path + ": " + errno_text(err));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return Status::Error(path + ": " + errno_text(errno));
  return Status::Ok();
}

// A sample may leave directories without permissions; root ignores them,
// anyone else has to give them back before removing.
void remove_tree(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!ec) return;
  ::chmod(dir.c_str(), 0700);
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
  }
  fs::remove_all(dir, ec);
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Reads what is available; returns false at end of file or on error.
bool drain(int fd, const std::function<void(const char*, size_t)>& sink) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      sink(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    return false;
  }
}

const char* signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? abbrev : "?";
}

const char* helper_mode_arg(Isolation mode) {
  switch (mode) {
    case Isolation::kNamespaces: return "namespaces";
    case Isolation::kUserNamespaces: return "user-namespaces";
    default: return "process-group";
  }
}

// Where mtpc-sandbox is: next to the running executable, else where this
// build put it. "" when neither has it.
std::string find_helper() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string exe(self, static_cast<size_t>(n));
    std::string beside = exe.substr(0, exe.rfind('/') + 1) + "mtpc-sandbox";
    if (::access(beside.c_str(), X_OK) == 0) return beside;
  }
#ifdef MTPC_SANDBOX_HELPER
  if (::access(MTPC_SANDBOX_HELPER, X_OK) == 0) return MTPC_SANDBOX_HELPER;
#endif
  return "";
}

ChildMode child_mode(Isolation mode) {
  switch (mode) {
    case Isolation::kNamespaces: return ChildMode::kNamespaces;
    case Isolation::kUserNamespaces: return ChildMode::kUserNamespaces;
    default: return ChildMode::kProcessGroup;
  }
}

// posix_spawn (vfork + exec) of mtpc-sandbox with the plan on its command
// line and the five pipe ends at descriptors 1-5. Returns "" or the error.
std::string spawn_helper(const std::string& helper, const detail::ChildPlan& plan, const std::string& hidden, Isolation mode,
                         const std::vector<std::string>& python_args, std::vector<char*>& envp, pid_t& pid) {
  std::vector<std::string> args = {helper,
                                   helper_mode_arg(mode),
                                   plan.switch_uid ? "1" : "0",
                                   std::to_string(plan.uid),
                                   plan.dir,
                                   std::to_string(plan.cpu_seconds),
                                   std::to_string(plan.address_space_bytes),
                                   std::to_string(plan.file_size_bytes),
                                   std::to_string(plan.processes),
                                   std::to_string(plan.open_files),
                                   hidden};
  args.insert(args.end(), python_args.begin(), python_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // Copies above any target number, so one dup2 cannot clobber the source of
  // a later one.
  const int src[5] = {plan.fd_stdout, plan.fd_stderr, plan.fd_nonce, plan.fd_report, plan.fd_status};
  int high[5] = {-1, -1, -1, -1, -1};
  std::string error;
  for (int i = 0; i < 5 && error.empty(); ++i) {
    high[i] = ::fcntl(src[i], F_DUPFD_CLOEXEC, 16);
    if (high[i] < 0) error = std::string("dup: ") + errno_text(errno);
  }
  if (error.empty()) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    for (int i = 0; i < 5; ++i) posix_spawn_file_actions_adddup2(&actions, high[i], i + 1);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = ::posix_spawn(&pid, helper.c_str(), &actions, &attr, argv.data(), envp.data());
    if (rc != 0) error = "cannot start " + helper + ": " + errno_text(rc);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  for (int fd : high) {
    if (fd >= 0) ::close(fd);
  }
  return error;
}

}  // namespace

const char* isolation_name(Isolation mode) {
  switch (mode) {
    case Isolation::kAuto: return "auto";
    case Isolation::kNamespaces: return "namespaces";
    case Isolation::kUserNamespaces: return "user-namespaces";
    case Isolation::kProcessGroup: return "process-group";
  }
  return "?";
}

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPassed: return "passed";
    case Outcome::kFailed: return "failed";
    case Outcome::kTimedOut: return "timed out";
    case Outcome::kError: return "error";
  }
  return "?";
}

std::string ExecutionResult::summary() const {
  switch (outcome) {
    case Outcome::kPassed: return "passed";
    case Outcome::kTimedOut: return "timed out";
    case Outcome::kFailed: return "failed: " + detail;
    case Outcome::kError: return "error: " + detail;
  }
  return "?";
}

std::string IsolationReport::describe() const {
  std::string s = isolation_name(mode);
  if (mode == Isolation::kProcessGroup) {
    s += " only: NOT network-isolated, filesystem protected by permissions only";
  } else {
    s += std::string(" (pid, net, mount, ipc, uts") + (mode == Isolation::kUserNamespaces ? ", user" : "") +
         "; network-isolated; filesystem read-only outside the sample directory)";
  }
  if (unique_uid) s += "; unique uid per sample";
  if (!fallback_reason.empty()) s += "; fallback because " + fallback_reason;
  return s;
}

ExecutionResult SandboxRunner::run(std::string_view program) const {
  return run_in_mode(program, isolation_.mode);
}

ExecutionResult SandboxRunner::run_in_mode(std::string_view program, Isolation mode) const {
  const Clock::time_point start = Clock::now();
  ExecutionResult result;
  auto finish = [&](ExecutionResult& r) -> ExecutionResult {
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(r);
  };
  auto harness_error = [&](std::string what) {
    result.outcome = Outcome::kError;
    result.detail = std::move(what);
    return finish(result);
  };

  const std::string dir = work_root_ + "/s" + std::to_string(next_sample_.fetch_add(1));
  if (::mkdir(dir.c_str(), 0700) != 0) return harness_error("cannot create " + dir + ": " + errno_text(errno));
  struct DirGuard {
    std::string path;
    ~DirGuard() { remove_tree(path); }
  } dir_guard{dir};
  if (Status s = write_whole_file(dir + "/program.py", program); !s.ok()) return harness_error(s.message());

  const bool switch_uid = ::geteuid() == 0;
  uid_t uid = ::geteuid();
  if (switch_uid) {
    for (int draw = 0; draw < kUidDraws; ++draw) {
      uid = kSampleUidBase + static_cast<uint32_t>(random_u64() % kSampleUidSpan);
      if (count_processes_of_uid(uid) == 0) break;
    }
    if (::chown(dir.c_str(), uid, uid) != 0) return harness_error("chown " + dir + ": " + errno_text(errno));
  }

  Pipe out, err, nonce_pipe, report, status;
  if (!out.open() || !err.open() || !nonce_pipe.open() || !report.open() || !status.open())
    return harness_error(std::string("pipe: ") + errno_text(errno));
  const std::string nonce = random_nonce();
  if (::write(nonce_pipe.w, nonce.data(), nonce.size()) != static_cast<ssize_t>(nonce.size()))
    return harness_error(std::string("writing the nonce: ") + errno_text(errno));
  Pipe::close_fd(nonce_pipe.w);

  // Everything the child reads is built here, before fork().
  std::vector<std::string> arg_strings = {options_.python, "-I", "-B", "-c", kRunnerScript};
  std::vector<std::string> env_strings = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir,
                                          "TMPDIR=" + dir, "LANG=C.UTF-8"};
  std::vector<char*> argv, envp;
  for (std::string& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  detail::ChildPlan plan;
  plan.mode = child_mode(mode);
  plan.switch_uid = switch_uid;
  plan.uid = uid;
  plan.gid = uid;
  plan.dir = dir.c_str();
  plan.hidden_dirs = hidden_ptrs_.data();
  plan.python = options_.python.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.cpu_seconds = static_cast<rlim_t>(std::ceil(options_.timeout_s));
  plan.address_space_bytes = static_cast<rlim_t>(options_.max_memory_bytes);
  plan.file_size_bytes = static_cast<rlim_t>(options_.max_file_bytes);
  plan.processes = static_cast<rlim_t>(options_.max_processes);
  if (!switch_uid && plan.mode == ChildMode::kProcessGroup) {
    // RLIMIT_NPROC counts all of this user's processes here, not just the sample's.
    plan.processes += static_cast<rlim_t>(count_processes_of_uid(uid));
  }
  plan.open_files = static_cast<rlim_t>(options_.max_open_files);
  plan.fd_stdout = out.w;
  plan.fd_stderr = err.w;
  plan.fd_nonce = nonce_pipe.r;
  plan.fd_report = report.w;
  plan.fd_status = status.w;

  pid_t supervisor = -1;
  if (helper_.empty()) {
    supervisor = ::fork();
    if (supervisor < 0) return harness_error(std::string("fork: ") + errno_text(errno));
    if (supervisor == 0) detail::run_supervisor(plan);  // never returns
  } else {
    std::string spawn_error = spawn_helper(helper_, plan, hidden_joined_, mode, arg_strings, envp, supervisor);
    if (!spawn_error.empty()) return harness_error(spawn_error);
  }

  Pipe::close_fd(out.w);
  Pipe::close_fd(err.w);
  Pipe::close_fd(nonce_pipe.r);
  Pipe::close_fd(report.w);
  Pipe::close_fd(status.w);
  for (int fd : {out.r, err.r, status.r, report.r}) set_nonblocking(fd);

  StreamCapture out_capture(options_.max_output_bytes), err_capture(options_.max_output_bytes);
  std::string status_bytes;
  const Clock::time_point deadline =
      start + std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_s * 1000));
  Clock::time_point kill_deadline{};
  bool timed_out = false;
  bool out_open = true, err_open = true, status_open = true;
  while (status_open) {
    Clock::time_point now = Clock::now();
    if (!timed_out && now >= deadline) {
      timed_out = true;
      ::kill(-supervisor, SIGKILL);  // supervisor and reaper; the namespace dies with the reaper
      ::kill(supervisor, SIGKILL);
      kill_deadline = now + std::chrono::milliseconds(kKillGraceMs);
    }
    if (timed_out && now >= kill_deadline) break;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>((timed_out ? kill_deadline : deadline) - now);
    pollfd pfds[3] = {{out_open ? out.r : -1, POLLIN, 0},
                      {err_open ? err.r : -1, POLLIN, 0},
                      {status.r, POLLIN, 0}};
    int n = ::poll(pfds, 3, static_cast<int>(std::max<int64_t>(wait.count(), 1)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (pfds[0].revents) out_open = drain(out.r, [&](const char* p, size_t k) { out_capture.append(p, k); });
    if (pfds[1].revents) err_open = drain(err.r, [&](const char* p, size_t k) { err_capture.append(p, k); });
    if (pfds[2].revents) status_open = drain(status.r, [&](const char* p, size_t k) { status_bytes.append(p, k); });
  }
  while (::waitpid(supervisor, nullptr, 0) < 0 && errno == EINTR) {
  }

  // Whatever the sample left behind: one kill(-1) as its uid takes all of it
  // (in the namespace modes the kernel has already emptied the namespace).
  if (switch_uid) kill_all_of_uid(uid);
  if (mode == Isolation::kProcessGroup) kill_session(supervisor);

  if (out_open) drain(out.r, [&](const char* p, size_t k) { out_capture.append(p, k); });
  if (err_open) drain(err.r, [&](const char* p, size_t k) { err_capture.append(p, k); });
  std::string reported;
  drain(report.r, [&](const char* p, size_t k) {
    if (reported.size() < 256) reported.append(p, std::min<size_t>(k, 256));
  });
  result.stdout_text = out_capture.text();
  result.stderr_text = err_capture.text();
  result.output_truncated = out_capture.truncated() || err_capture.truncated();

  std::optional<int> sample_status;
  std::optional<StatusMessage> setup_failure, exec_failure;
  for (size_t at = 0; at + sizeof(StatusMessage) <= status_bytes.size(); at += sizeof(StatusMessage)) {
    StatusMessage m;
    std::memcpy(&m, status_bytes.data() + at, sizeof m);
    if (m.kind == detail::kSetupFailed && !setup_failure) setup_failure = m;
    if (m.kind == detail::kExecFailed && !exec_failure) exec_failure = m;
    if (m.kind == detail::kSampleExited) sample_status = m.a;
  }

  if (setup_failure) {
    return harness_error(std::string("sandbox setup failed at ") + detail::stage_name(setup_failure->a) +
                         ": " + errno_text(setup_failure->b));
  }
  if (exec_failure) {
    return harness_error("cannot run interpreter " + options_.python + ": " + errno_text(exec_failure->a));
  }
  if (sample_status && *sample_status != -1) {
    int st = *sample_status;
    if (WIFEXITED(st)) result.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) result.signal = WTERMSIG(st);
  }
  if (timed_out || result.signal == SIGXCPU) {
    result.outcome = Outcome::kTimedOut;
    return finish(result);
  }
  result.outcome = Outcome::kFailed;
  if (!sample_status) {
    result.detail = "the sample's supervisor process was killed before it reported";
  } else if (result.exit_code == 0) {
    if (reported == nonce) {
      result.outcome = Outcome::kPassed;
    } else {
      result.detail = "exited with status 0 before the tests completed";
    }
  } else if (result.signal != 0) {
    result.detail = std::string("killed by signal SIG") + signal_name(result.signal);
  } else {
    result.detail = err_capture.last_line();
    if (result.detail.empty()) result.detail = "exit status " + std::to_string(result.exit_code);
  }
  return finish(result);
}

Result<std::unique_ptr<SandboxRunner>> SandboxRunner::create(SandboxOptions options) {
  if (!(options.timeout_s > 0)) return Status::Error("sandbox: timeout must be > 0");
  if (options.max_processes < 1 || options.max_open_files < 16)
    return Status::Error("sandbox: max_processes must be >= 1 and max_open_files >= 16");
  if (options.max_memory_bytes < (int64_t{32} << 20))
    return Status::Error("sandbox: max_memory_bytes below 32 MiB cannot start python");
  std::string parent = options.work_root_parent;
  if (parent.empty()) {
    std::error_code ec;
    parent = fs::temp_directory_path(ec).string();
    if (ec) parent = "/tmp";
  }
  std::unique_ptr<SandboxRunner> runner(new SandboxRunner(std::move(options)));
  const std::string& launcher = runner->options_.launcher;
  if (launcher.empty()) {
    runner->helper_ = find_helper();
  } else if (launcher != "fork") {
    if (::access(launcher.c_str(), X_OK) != 0)
      return Status::Error("sandbox: launcher " + launcher + " is not executable: " + errno_text(errno));
    runner->helper_ = launcher;
  }
  runner->isolation_.launcher = runner->helper_.empty() ? "fork" : runner->helper_;
  std::string tmpl = parent + "/mtpc-sandbox-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return Status::Error("sandbox: cannot create a directory in " + parent + ": " + errno_text(errno));
  runner->work_root_ = tmpl;
  // Host directories that hold unix sockets and shared memory, covered in
  // the namespace modes unless the samples live below one of them.
  for (const char* d : {"/run", "/var/run", "/dev/shm", "/var/tmp", "/tmp"}) {
    std::error_code dir_ec;
    if (fs::is_symlink(d, dir_ec) || !fs::is_directory(d, dir_ec)) continue;
    std::string prefix = std::string(d) + "/";
    if (tmpl.rfind(prefix, 0) == 0) continue;
    runner->hidden_dirs_.push_back(d);
  }
  for (const std::string& d : runner->hidden_dirs_) {
    runner->hidden_ptrs_.push_back(d.c_str());
    runner->hidden_joined_ += (runner->hidden_joined_.empty() ? "" : ":") + d;
  }
  runner->hidden_ptrs_.push_back(nullptr);
  // The sample uid must be able to reach its own directory inside.
  ::chmod(tmpl.c_str(), 0711);

  std::vector<Isolation> candidates;
  Isolation requested = runner->options_.isolation;
  if (requested == Isolation::kAuto) {
    if (::geteuid() == 0) candidates.push_back(Isolation::kNamespaces);
    candidates.push_back(Isolation::kUserNamespaces);
    candidates.push_back(Isolation::kProcessGroup);
  } else {
    candidates.push_back(requested);
  }
  std::string refused;
  for (Isolation mode : candidates) {
    ExecutionResult probe = runner->run_in_mode("", mode);
    if (probe.outcome == Outcome::kError && probe.detail.rfind("sandbox setup failed", 0) == 0) {
      refused += std::string(refused.empty() ? "" : "; ") + isolation_name(mode) + ": " + probe.detail;
      continue;
    }
    IsolationReport& iso = runner->isolation_;
    iso.mode = mode;
    iso.network_isolated = iso.filesystem_read_only = iso.pid_namespace = mode != Isolation::kProcessGroup;
    iso.unique_uid = ::geteuid() == 0;
    iso.fallback_reason = refused;
    iso.launcher = runner->helper_.empty() ? "fork" : runner->helper_;
    if (probe.outcome != Outcome::kPassed) {
      runner->interpreter_status_ =
          Status::Error("the interpreter did not run an empty program: " + probe.summary());
    }
    return runner;
  }
  return Status::Error(std::string("sandbox: isolation refused by this system: ") + refused);
}

SandboxRunner::~SandboxRunner() {
  if (!work_root_.empty()) remove_tree(work_root_);
}

}  // namespace mtpc::eval
