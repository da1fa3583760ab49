// /proc scanning and killing for the sandbox's cleanup. Linux only.
//
// Thread-safe (no shared state). Never throws; a process that vanishes while
// it is being read is simply skipped.
#pragma once

#include <sys/types.h>

#include <vector>

namespace mtpc::eval {

struct ProcessInfo {
  pid_t pid = 0;
  uid_t uid = 0;      // real uid, from /proc/<pid>/status (not the dir owner,
                      // which PR_SET_DUMPABLE 0 turns into root)
  pid_t session = 0;  // in the caller's pid namespace
  char state = '?';   // 'Z' for zombies
};

// Every process visible in /proc, zombies included.
std::vector<ProcessInfo> list_processes();

// Live (non-zombie) processes of `uid`.
int count_processes_of_uid(uid_t uid);

// Root only, uid != 0: kills every process of `uid` at once with kill(-1, 9)
// issued by a helper that switched to that uid (the kernel holds the task
// list while it signals, so nothing forks past it), then waits up to
// `wait_ms` for them to be gone. Returns the number still alive.
int kill_all_of_uid(uid_t uid, int wait_ms = 2000);

// Kills every process whose session id is `session`, rescanning until none
// is left or `rounds` scans have passed. Returns the number still alive.
int kill_session(pid_t session, int rounds = 50);

}  // namespace mtpc::eval
