// `mtpc bench train --ranks N`: data-parallel scaling on this machine.
// Torch-free header and source: it runs the real `mtpc train` (once as one
// process with every core, once as `--ranks N` with the cores split N ways)
// on random tokens and reads the throughput from rank 0's train.jsonl
// (steps 2..S+1: the first step warms up).
//
// Threads: blocks the calling thread for both runs. Never throws.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"

namespace mtpc {

struct TrainScalingOptions {
  std::string program;           // the mtpc executable
  std::string preset = "small";  // model and schedule (its batch_size is the global batch)
  int ranks = 2;                 // the data-parallel run's world size (>= 2)
  int64_t steps = 20;            // timed steps per run, after one untimed warm-up step
  int threads = 0;               // cores in all (0: every core); the N ranks share them
  std::string device = "cpu";
  std::function<void(const std::string& line)> progress;  // one line per run
};

// {"benchmark": "train-scaling", "preset", "steps", "global_batch",
// "seq_len", "bf16", "runs": [{"ranks", "threads_per_rank", "tokens_per_s",
// "step_seconds"}: 1 rank with every core, 1 rank with one rank's share of
// the cores (left out when that is every core), N ranks], "ratio" (tokens/s
// of N ranks over 1 rank with every core), "efficiency" (tokens/s of N ranks
// over N times 1 rank with the same threads per rank),
// "load_average_1m" (before the runs: the machine may be shared), "machine"}.
Result<nlohmann::json> run_train_scaling_benchmark(const TrainScalingOptions& options);

}  // namespace mtpc
