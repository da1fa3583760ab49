// SandboxRunner: runs one untrusted Python program per call, each in its own
// fresh interpreter process, and judges whether it passed.
//
// Contract
// - run() is thread-safe: parallel workers call it concurrently; every call
//   forks its own processes and owns its own temporary directory. The harness
//   process never executes sample code itself.
// - run() never throws and always returns an ExecutionResult; problems of the
//   harness itself (the interpreter is missing, a namespace could not be set
//   up) come back as Outcome::kError, not as a Status.
// - The runner owns a work root (a fresh directory under TMPDIR) holding one
//   subdirectory per running sample; each is removed when its run ends, the
//   root when the runner is destroyed.
//
// Each sample's supervisor is the small mtpc-sandbox executable, started
// with posix_spawn so the (possibly LibTorch-sized) harness is never forked;
// see SandboxOptions::launcher.
//
// Isolation (what `isolation()` reports), strongest first:
// - kNamespaces (harness is root): the sample gets new pid, network, mount,
//   IPC and UTS namespaces. Its network namespace has only a loopback device
//   that is down, so no connection to the host (127.0.0.1 included) or
//   beyond is possible. Every mount is read-only in its mount namespace
//   except a bind mount of its own directory, so no file outside that
//   directory can change; /run, /dev/shm, /var/tmp and /tmp (unless the
//   samples live there) are covered by an empty tmpfs, hiding the host's
//   unix sockets (docker, dbus, X11), which a read-only mount alone would
//   leave connectable. Pid 1 of its pid namespace is our reaper; when the
//   reaper exits, the kernel kills everything left in the namespace, so a
//   daemon that double-forks and calls setsid() dies with it, and the
//   sample's os.kill(os.getppid(), 9) hits a pid 1 that ignores it.
// - kUserNamespaces (not root, or asked for): the same, inside a user
//   namespace (the kernel must allow unprivileged user namespaces).
// - kProcessGroup (no namespaces permitted): setsid() plus a process group,
//   killed on timeout; afterwards /proc is scanned for processes of the
//   sample's session (and, as root, of its uid) and those are killed. Not
//   network-isolated and the filesystem is only protected by file
//   permissions; the report says so.
// As root the sample always runs as a unique, random uid (>= 0x70000000) with no
// supplementary groups, no capabilities and PR_SET_NO_NEW_PRIVS. RLIMIT_NPROC
// counts processes per uid, so it caps a fork bomb at `max_processes` for
// this sample alone (RLIMIT_NPROC does not bind root, hence the switch), and
// the uid lets cleanup kill every process of the sample with one kill(-1)
// issued as that uid, however it detached itself.
//
// Resource limits per sample: RLIMIT_CPU (timeout rounded up, then SIGKILL
// one second later), RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NPROC, RLIMIT_NOFILE,
// no core files; a wall-clock timeout kills the whole tree. stdin is
// /dev/null; the environment is only PATH, HOME and TMPDIR (the sample's
// directory) and LANG; the interpreter runs with -I (ignores PYTHON*
// variables and user site-packages) and -B (writes no .pyc).
// Not limited: total memory of a fork bomb whose every process also
// allocates (max_processes x max_memory_bytes); a memory cgroup would be
// needed for that.
//
// How a pass is judged. A sample passes only if its interpreter exits with
// status 0 AND it delivers a per-run nonce on a pipe that is not stdout. The
// program file (program.py in the sample's directory) never contains the
// nonce. The interpreter runs a fixed runner script (-c) that, before any
// sample code runs:
//   1. reads the 128-bit random nonce from fd 3 (a pipe the harness filled
//      and closed) and closes fd 3, so the sample cannot read it there;
//   2. keeps the nonce and the function os.write in its own frame's locals;
//   3. compiles program.py and exec()s it in a fresh globals dict (named
//      "__sample__", so `if __name__ == "__main__":` blocks do not run, as in
//      openai/human-eval);
//   4. only if exec() returns normally, writes the nonce to fd 4.
// This defeats: exiting with status 0 before the asserts (sys.exit(0),
// os._exit(0), quit(): exec never returns, no nonce); overriding builtins or
// os.write (the runner holds its own references, taken before the sample
// ran); closing or redirecting stdout (the nonce does not travel there);
// printing a fake marker (the sample does not know the nonce); a sample that
// kills its parent (the parent is the reaper, which reports the real exit).
// Out of scope: code written against this harness that digs the nonce out
// of the runner's frame (sys._getframe) or rewrites the running bytecode.
// Anything sharing the interpreter with the tests can do that; stopping it
// would need the tests in a separate process from the code under test,
// which is not how HumanEval and MBPP are defined.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mtpc::eval {

enum class Isolation {
  kAuto,            // kNamespaces as root, else kUserNamespaces; kProcessGroup if refused
  kNamespaces,      // root only
  kUserNamespaces,  // any user, if the kernel allows unprivileged user namespaces
  kProcessGroup,    // no namespaces
};

struct SandboxOptions {
  // Interpreter for every sample. Debian's, not one found on PATH: a pyenv
  // shim under /root cannot be run by the unprivileged sample uid.
  std::string python = "/usr/bin/python3";
  double timeout_s = 10.0;                      // wall clock per sample
  int64_t max_memory_bytes = int64_t{1} << 30;  // RLIMIT_AS per process
  int64_t max_file_bytes = int64_t{16} << 20;   // RLIMIT_FSIZE
  int max_processes = 64;                       // RLIMIT_NPROC (threads count too)
  int max_open_files = 256;                     // RLIMIT_NOFILE
  // Per stream: the first and the last max_output_bytes / 2 are kept, the
  // rest is read and dropped, so a sample printing gigabytes costs no memory.
  size_t max_output_bytes = 64 * 1024;
  Isolation isolation = Isolation::kAuto;
  std::string work_root_parent;  // "" = TMPDIR or /tmp
  // How the per-sample supervisor starts. "" (default): posix_spawn of the
  // small mtpc-sandbox executable, found next to the running executable or
  // in the build tree, else "fork". "fork": fork() the harness itself, which
  // copies its whole address space (slow when LibTorch is loaded). Any other
  // value: the path of an mtpc-sandbox executable.
  std::string launcher;
};

enum class Outcome { kPassed, kFailed, kTimedOut, kError };

struct ExecutionResult {
  Outcome outcome = Outcome::kError;
  // Empty for kPassed and kTimedOut. kFailed: the last line of stderr (the
  // exception, e.g. "AssertionError"), else what ended the process.
  // kError: what went wrong in the harness.
  std::string detail;
  int exit_code = -1;  // of the interpreter; -1 if it did not exit normally
  int signal = 0;      // that ended the interpreter, 0 if none
  double seconds = 0;  // wall clock from fork to cleanup
  std::string stdout_text;  // head and tail, see max_output_bytes
  std::string stderr_text;
  bool output_truncated = false;

  bool passed() const { return outcome == Outcome::kPassed; }
  // "passed", "failed: <detail>", "timed out", "error: <detail>".
  std::string summary() const;
};

struct IsolationReport {
  Isolation mode = Isolation::kProcessGroup;
  bool network_isolated = false;
  bool filesystem_read_only = false;  // outside the sample's directory
  bool pid_namespace = false;
  bool unique_uid = false;
  std::string fallback_reason;  // why a stronger mode was not used; "" if none
  std::string launcher;         // the mtpc-sandbox path, or "fork"
  // One line for reports, e.g. "namespaces (pid, net, mount read-only, ipc,
  // uts), unique uid per sample" or "process group only: NOT network-isolated ...".
  std::string describe() const;
};

class SandboxRunner {
 public:
  // Creates the work root and probes the requested isolation by running an
  // empty program; falls back (kAuto only) and records why. Fails only if
  // the work root cannot be created or an explicitly requested mode is
  // refused. A missing interpreter is not a failure here: interpreter_status()
  // reports it and every run() returns kError.
  static Result<std::unique_ptr<SandboxRunner>> create(SandboxOptions options);
  ~SandboxRunner();
  SandboxRunner(const SandboxRunner&) = delete;
  SandboxRunner& operator=(const SandboxRunner&) = delete;

  ExecutionResult run(std::string_view program) const;

  const IsolationReport& isolation() const { return isolation_; }
  const Status& interpreter_status() const { return interpreter_status_; }
  const SandboxOptions& options() const { return options_; }
  // Where the samples' directories are made; a sample's processes run there.
  const std::string& work_root() const { return work_root_; }
  // Covered by an empty tmpfs in the namespace modes (see below).
  const std::vector<std::string>& hidden_dirs() const { return hidden_dirs_; }

 private:
  explicit SandboxRunner(SandboxOptions options) : options_(std::move(options)) {}
  ExecutionResult run_in_mode(std::string_view program, Isolation mode) const;
  std::string helper_;  // mtpc-sandbox path; "" = fork
  std::vector<std::string> hidden_dirs_;
  std::vector<const char*> hidden_ptrs_;  // into hidden_dirs_, nullptr-terminated
  std::string hidden_joined_;             // ':'-separated, for mtpc-sandbox

  SandboxOptions options_;
  std::string work_root_;
  IsolationReport isolation_;
  Status interpreter_status_;
  mutable std::atomic<uint64_t> next_sample_{0};
};

const char* isolation_name(Isolation mode);
const char* outcome_name(Outcome outcome);  // "passed", "failed", "timed out", "error"

}  // namespace mtpc::eval
