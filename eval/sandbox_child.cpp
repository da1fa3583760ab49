#include "eval/sandbox_child.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace mtpc::eval::detail {
namespace {

// <linux/mount.h> clashes with <sys/mount.h> on glibc 2.36; the two pieces
// needed are small and part of the stable kernel ABI.
struct MountAttr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};
constexpr uint64_t kMountAttrReadOnly = 0x1;
constexpr uint64_t kMountAttrNoSuid = 0x2;
constexpr unsigned kAtRecursive = 0x8000;

constexpr int kStatusFd = 5;
constexpr int kFirstUnusedFd = 6;

void send(int32_t kind, int32_t a, int32_t b) {
  StatusMessage m{kind, a, b};
  while (::write(kStatusFd, &m, sizeof m) < 0 && errno == EINTR) {
  }
}

[[noreturn]] void fail(SetupStage stage) {
  send(kSetupFailed, stage, errno);
  _exit(126);
}

void reset_signals() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) {
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, nullptr);
  }
}

// Puts the five pipe ends at 1..5 and /dev/null at 0, closes everything else
// (other workers' pipes leak into this fork until here: they are not ours).
void place_fds(const ChildPlan& p) {
  const int src[5] = {p.fd_stdout, p.fd_stderr, p.fd_nonce, p.fd_report, p.fd_status};
  int high[5];
  for (int i = 0; i < 5; ++i) {
    // Move out of the way first: a source may already sit at a target number.
    high[i] = ::fcntl(src[i], F_DUPFD_CLOEXEC, 64);
    if (high[i] < 0) {
      StatusMessage m{kSetupFailed, kStageFds, errno};
      (void)!::write(p.fd_status, &m, sizeof m);
      _exit(126);
    }
  }
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull > 0) ::dup2(devnull, 0);
  for (int i = 0; i < 5; ++i) {
    if (::dup2(high[i], i + 1) < 0) {
      StatusMessage m{kSetupFailed, kStageFds, errno};
      (void)!::write(high[4], &m, sizeof m);
      _exit(126);
    }
  }
  // The status pipe must not reach the sample: execve closes it.
  ::fcntl(kStatusFd, F_SETFD, FD_CLOEXEC);
  if (::syscall(SYS_close_range, kFirstUnusedFd, ~0U, 0) != 0) {
    for (int fd = kFirstUnusedFd; fd < 65536; ++fd) ::close(fd);
  }
}

// Raw syscalls: glibc's setuid() would try to signal the other threads of
// the harness, which do not exist in this forked copy.
void drop_privileges(const ChildPlan& p) {
  if (::syscall(SYS_setgroups, 0, nullptr) != 0) fail(kStageDropPrivileges);
  if (::syscall(SYS_setresgid, p.gid, p.gid, p.gid) != 0) fail(kStageDropPrivileges);
  if (::syscall(SYS_setresuid, p.uid, p.uid, p.uid) != 0) fail(kStageDropPrivileges);
}

// In the new mount namespace: every mount read-only and nosuid, except a
// bind mount of the sample's own directory. mount_setattr changes only this
// namespace's copies of the mounts, never the superblocks the host uses.
void make_filesystem_read_only(const char* dir, const char* const* hidden) {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail(kStageMountPrivate);
  for (int i = 0; hidden && hidden[i] && i < kMaxHiddenDirs; ++i) {
    if (::mount("tmpfs", hidden[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=755") != 0)
      fail(kStageHideDir);
  }
  if (::mount(dir, dir, nullptr, MS_BIND, nullptr) != 0) fail(kStageBindDir);
  MountAttr ro{kMountAttrReadOnly | kMountAttrNoSuid, 0, 0, 0};
  if (::syscall(SYS_mount_setattr, AT_FDCWD, "/", kAtRecursive, &ro, sizeof ro) != 0)
    fail(kStageReadOnly);
  MountAttr rw{0, kMountAttrReadOnly, 0, 0};
  if (::syscall(SYS_mount_setattr, AT_FDCWD, dir, 0, &rw, sizeof rw) != 0) fail(kStageWritableDir);
}

void set_limit(int resource, rlim_t soft, rlim_t hard) {
  struct rlimit r {};
  r.rlim_cur = soft;
  r.rlim_max = hard;
  if (::setrlimit(resource, &r) != 0) fail(kStageRlimits);
}

// Pid 1 of the sample's pid namespace (in the namespace modes): when it
// exits, the kernel kills every process left in the namespace, daemons that
// called setsid() included.
[[noreturn]] void run_reaper(const ChildPlan& p) {
  if (p.mode != ChildMode::kProcessGroup) {
    // A /proc that shows only the sample's processes. Best effort: the
    // kernel refuses it where parts of the host's /proc are over-mounted.
    ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  }
  if (p.switch_uid && p.mode != ChildMode::kUserNamespaces) drop_privileges(p);
  // setuid binaries (su, ping, ...) must not hand privileges back.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(kStageNoNewPrivs);
  set_limit(RLIMIT_CPU, p.cpu_seconds, p.cpu_seconds + 1);
  set_limit(RLIMIT_AS, p.address_space_bytes, p.address_space_bytes);
  set_limit(RLIMIT_FSIZE, p.file_size_bytes, p.file_size_bytes);
  set_limit(RLIMIT_NPROC, p.processes, p.processes);
  set_limit(RLIMIT_NOFILE, p.open_files, p.open_files);
  set_limit(RLIMIT_CORE, 0, 0);
  if (::chdir(p.dir) != 0) fail(kStageChdir);

  pid_t python = ::fork();
  if (python < 0) fail(kStageFork);
  if (python == 0) {
    // Its own group: os.killpg(0, ...) from the sample then reaches only the
    // sample's processes, never the reaper or the supervisor.
    ::setpgid(0, 0);
    ::execve(p.python, p.argv, p.envp);
    send(kExecFailed, errno, 0);
    _exit(127);
  }
  int status = 0;
  for (;;) {
    pid_t w = ::waitpid(-1, &status, 0);  // as pid 1 it also reaps orphans
    if (w == python) break;
    if (w < 0 && errno != EINTR) {
      status = -1;
      break;
    }
  }
  send(kSampleExited, status, 0);
  _exit(0);
}

}  // namespace

const char* stage_name(int32_t stage) {
  switch (stage) {
    case kStageFds: return "placing descriptors";
    case kStageSetsid: return "setsid";
    case kStageDropPrivileges: return "switching to the sample uid";
    case kStageUnshare: return "unshare (namespaces)";
    case kStageMountPrivate: return "making mounts private";
    case kStageBindDir: return "bind-mounting the sample directory";
    case kStageReadOnly: return "making the filesystem read-only";
    case kStageWritableDir: return "making the sample directory writable";
    case kStageNoNewPrivs: return "PR_SET_NO_NEW_PRIVS";
    case kStageRlimits: return "setrlimit";
    case kStageChdir: return "chdir to the sample directory";
    case kStageFork: return "fork";
    case kStageArguments: return "parsing the mtpc-sandbox command line";
    case kStageHideDir: return "covering a host directory with an empty tmpfs";
    default: return "unknown stage";
  }
}

void run_supervisor(const ChildPlan& p) {
  reset_signals();
  place_fds(p);
  if (::setsid() < 0) fail(kStageSetsid);
  // If the harness thread that forked us dies, take the sample down with it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  constexpr int kSampleNamespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                                    CLONE_NEWUTS;
  switch (p.mode) {
    case ChildMode::kNamespaces:
      if (::unshare(kSampleNamespaces) != 0) fail(kStageUnshare);
      make_filesystem_read_only(p.dir, p.hidden_dirs);
      break;
    case ChildMode::kUserNamespaces:
      // Switch first, so the user namespace belongs to the unique sample uid
      // and RLIMIT_NPROC counts that uid's processes only.
      if (p.switch_uid) drop_privileges(p);
      if (::unshare(CLONE_NEWUSER | kSampleNamespaces) != 0) fail(kStageUnshare);
      make_filesystem_read_only(p.dir, p.hidden_dirs);
      break;
    case ChildMode::kProcessGroup:
      break;
  }
  pid_t reaper = ::fork();
  if (reaper < 0) fail(kStageFork);
  if (reaper == 0) run_reaper(p);
  int status = 0;
  while (::waitpid(reaper, &status, 0) < 0) {
    if (errno != EINTR) {
      status = -1;
      break;
    }
  }
  send(kSupervisorExited, status, 0);
  _exit(0);
}

}  // namespace mtpc::eval::detail
