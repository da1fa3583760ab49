// `mtpc bench train` and `mtpc bench load` as library calls. Torch-free
// header.
//
// bench train measures n_future = 1, 4, 8 on the same trunk, in the
// sequential and the naive loss order, each configuration in its own child
// process so that peak RSS is that configuration's. The child is `mtpc bench
// train-step`, which calls benchmark_train_step_json(); the step it times is
// optimizer_step() (train_step.h), the trainer's own.
//
// Threads: each call blocks the calling thread. Never throws.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "model/training/train_config.h"

namespace mtpc {

// Times `steps` optimizer steps of `run` on one batch of random tokens, after
// one warm-up step, in this process. Data loading is not timed.
struct StepBenchmark {
  double step_seconds = 0;        // mean over the timed steps
  double tokens_per_second = 0;
  int64_t peak_rss_bytes = 0;     // of this process, after the steps
};
Result<StepBenchmark> benchmark_train_steps(const RunConfig& run, int64_t steps, const std::string& device);

struct TrainBenchmarkOptions {
  std::string preset = "small";        // tiny | small | base
  std::string head_kind = "transformer";  // transformer | mlp
  int64_t steps = 20;                  // timed steps per configuration
  std::string device = "cpu";
  int threads = 0;                     // 0: all cores
  // The train-step child's command line up to its own options, shell-quoted,
  // e.g. "'/usr/bin/mtpc' --threads 0 --device cpu bench train-step".
  std::string child_command;
  std::function<void(const std::string& line)> progress;  // one line per configuration
};

// One configuration in this process, as the child prints it: {"n_future",
// "loss_order", "parameters", "batch_size", "seq_len", "step_seconds",
// "tokens_per_s", "peak_rss_bytes"}.
Result<nlohmann::json> benchmark_train_step_json(const std::string& preset, int64_t steps, int n_future,
                                                 const std::string& head_kind, const std::string& loss_order,
                                                 const std::string& device);

// Every configuration through child processes: {"benchmark": "train",
// "preset", "head_kind", "steps", "machine", "runs", and the time and memory
// ratios over n_future = 1: "time_ratio", "mem_ratio" (n_future 4),
// "naive_*", "n8_*", "n8_naive_*"}.
Result<nlohmann::json> run_train_benchmark(const TrainBenchmarkOptions& options);

// Writes a randomly initialised `model` checkpoint to a temporary directory
// and times load_model over `repeats` loads.
struct LoadBenchmark {
  int64_t file_bytes = 0;         // model.safetensors
  double load_seconds = 0;        // mean
  double min_load_seconds = 0;
};
Result<LoadBenchmark> benchmark_checkpoint_load(const ModelConfig& model, bool bf16, int repeats);

// bench load: a preset's checkpoint (n_future 0: the preset's), five loads:
// {"benchmark": "load", "preset", "n_future", "parameters", "dtype",
// "file_bytes", "load_seconds", "min_load_seconds", "machine"}.
Result<nlohmann::json> run_load_benchmark(const std::string& preset, int n_future, bool bf16,
                                          const std::string& device, int threads);

// bench load --model DIR: one load_model of an existing directory (mtpc or
// Hugging Face) in fp32 or bf16, in this fresh process:
// {"benchmark": "load", "model", "parameters", "dtype", "file_bytes"
// (every *.safetensors in DIR), "load_seconds", "rss_bytes" (VmRSS after the
// load), "rss_anon_bytes" (private memory: copies and conversions),
// "rss_file_bytes" (mapped file pages), "machine"}. A mapped fp32 load shows
// its weights under rss_file_bytes, not rss_anon_bytes.
Result<nlohmann::json> run_model_load_benchmark(const std::string& dir, bool bf16, const std::string& device,
                                                int threads);

}  // namespace mtpc
