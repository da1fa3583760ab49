// Internal to sandbox.cpp: the code that runs between fork() and execve().
//
// The harness is multi-threaded, so everything here runs in a forked copy of
// it and may only use async-signal-safe calls: no allocation, no locks, no
// stdio. All strings and arrays in ChildPlan are prepared by the parent
// before fork() and only read here.
//
// Process tree of one sample (see sandbox.h for the why):
//   harness ──posix_spawn of mtpc-sandbox (or fork)──> supervisor (setsid; namespaces and mounts are set up here)
//                        └─fork─> reaper (pid 1 of the sample's pid namespace;
//                                  drops to the sample uid, sets rlimits)
//                                    └─fork─> python (own process group, execve)
// The supervisor and the reaper report through one status pipe with fixed-size
// StatusMessage records (writes below PIPE_BUF are atomic).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>

namespace mtpc::eval::detail {

enum class ChildMode {
  kNamespaces,      // root: new pid/net/mount/ipc/uts namespaces, then setuid
  kUserNamespaces,  // setuid first (when root), then a user namespace holding the rest
  kProcessGroup,    // no namespaces: setsid + process group; cleanup scans /proc
};

enum MessageKind : int32_t {
  kSetupFailed = 1,       // a = SetupStage, b = errno
  kExecFailed = 2,        // a = errno of execve
  kSampleExited = 3,      // a = wait status of the python process
  kSupervisorExited = 4,  // a = wait status of the reaper
};

enum SetupStage : int32_t {
  kStageFds = 1,
  kStageSetsid,
  kStageDropPrivileges,
  kStageUnshare,
  kStageMountPrivate,
  kStageBindDir,
  kStageReadOnly,
  kStageWritableDir,
  kStageNoNewPrivs,
  kStageRlimits,
  kStageChdir,
  kStageFork,
  kStageArguments,  // mtpc-sandbox could not parse its command line
  kStageHideDir,
};

constexpr int kMaxHiddenDirs = 8;

const char* stage_name(int32_t stage);

struct StatusMessage {
  int32_t kind = 0;
  int32_t a = 0;
  int32_t b = 0;
};

struct ChildPlan {
  ChildMode mode = ChildMode::kProcessGroup;
  bool switch_uid = false;  // root only: run the sample as uid/gid below
  uid_t uid = 0;
  gid_t gid = 0;
  const char* dir = nullptr;     // the sample's working directory (absolute)
  // Namespace modes: directories covered by an empty read-only tmpfs, so
  // the unix sockets and shared memory of the host in them (docker, dbus,
  // X11) are out of reach; nullptr-terminated, at most kMaxHiddenDirs.
  const char* const* hidden_dirs = nullptr;
  const char* python = nullptr;  // interpreter path for execve
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  rlim_t cpu_seconds = 0;
  rlim_t address_space_bytes = 0;
  rlim_t file_size_bytes = 0;
  rlim_t processes = 0;
  rlim_t open_files = 0;
  // Parent's descriptors; placed at 1, 2, 3, 4 and 5 in the child.
  int fd_stdout = -1;
  int fd_stderr = -1;
  int fd_nonce = -1;   // read end, the nonce already written and its write end closed
  int fd_report = -1;  // write end the runner script writes the nonce to
  int fd_status = -1;  // write end for StatusMessage records
};

// Never returns. Called in the child right after fork().
[[noreturn]] void run_supervisor(const ChildPlan& plan);

}  // namespace mtpc::eval::detail
