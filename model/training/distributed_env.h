// Data-parallel training: where this process stands in the job, and the
// local launcher. Torch-free header (the CLI includes it).
//
// A job is started the way torchrun starts torch jobs: every process gets
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in its
// environment. Rank 0 hosts the rendezvous store on MASTER_ADDR:MASTER_PORT;
// the others connect to it. `mtpc train --ranks N` is the local launcher:
// it spawns N copies of itself with that environment set.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace mtpc {

struct DistributedEnv {
  bool enabled = false;  // false: no WORLD_SIZE in the environment (a plain run)
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;  // torch's default
  std::string socket_ifname;  // GLOO_SOCKET_IFNAME: the interface Gloo binds to ("" = by address)

  bool is_rank0() const { return rank == 0; }
};

// Reads the torchrun variables. No WORLD_SIZE: a plain single-process run
// (enabled = false). WORLD_SIZE set: RANK, MASTER_ADDR and MASTER_PORT must be
// set and valid (0 <= RANK < WORLD_SIZE, 1 <= port <= 65535); LOCAL_RANK
// defaults to RANK. `lookup` reads one variable (default: getenv); "" = unset.
Result<DistributedEnv> distributed_env_from_environment(
    const std::function<std::string(const std::string&)>& lookup = {});

// Timeouts of a data-parallel run, as `mtpc train` flags.
struct DistributedTimeouts {
  // --dist-connect-timeout: reaching the master's store and meeting every
  // other rank there; past it a rank stops with an error naming the address.
  std::chrono::milliseconds connect{60'000};
  // --dist-timeout: one collective (gradient all-reduce, loss agreement).
  // A rank that dies closes its sockets and the others fail at once; this
  // bound covers a rank that hangs or is stopped.
  std::chrono::milliseconds collective{300'000};
};

// `mtpc train --ranks N`: runs `argv` (argv[0] the program) N times on this
// machine with RANK = LOCAL_RANK = 0..N-1, WORLD_SIZE = LOCAL_WORLD_SIZE = N,
// MASTER_ADDR = 127.0.0.1 and MASTER_PORT = a free port (or `master_port` if
// non-zero). Waits for all of them (the caller splits the cores: --threads). The first rank that fails (non-zero exit or a signal) makes
// the launcher send SIGTERM to the others, then SIGKILL after `grace`; the
// result then names that rank and how it ended. SIGINT/SIGTERM to the
// launcher are passed on to every rank (they checkpoint together and stop).
// Returns the exit code to use: 0 if every rank succeeded, else the failing
// rank's code (128 + signal for a signal).
struct LaunchResult {
  int exit_code = 0;
  std::string failure;  // "" on success, else e.g. "rank 1 was killed by signal 9"
};
Result<LaunchResult> launch_local_ranks(const std::vector<std::string>& argv, int ranks, int master_port = 0,
                                        std::chrono::milliseconds grace = std::chrono::seconds(10),
                                        const std::function<void(const std::string&)>& progress = {});

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0).
Result<int> pick_free_local_port();

}  // namespace mtpc
