// `mtpc train`: the training loop. Torch-free header.
//
// Plain order per step: learning rate, (forward, loss, backward) per
// micro-batch, clip, AdamW step, zero grad; validation and checkpoints every
// N steps; a checkpoint on SIGINT/SIGTERM. Outputs in out_dir:
//   checkpoint/   a model checkpoint (see checkpoint.h) plus
//                 optimizer.safetensors and trainer_state.json
//   train.jsonl   one record per logged step and per validation pass
// Deterministic: same config, data and thread count give the same losses, and
// a resumed run continues exactly where the checkpoint left off.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/training/train_config.h"

namespace mtpc {

struct TrainSummary {
  int64_t final_step = 0;
  bool interrupted = false;       // stopped by SIGINT/SIGTERM after checkpointing
  double tokens_per_second = 0;   // training throughput over this invocation
  std::vector<double> last_loss;  // per head, at the last step
  std::vector<double> val_loss;   // per head, last validation (nats); empty if none ran
};

Result<TrainSummary> train(const TrainOptions& options);

// For `mtpc bench train`: times `steps` optimizer steps of `run` on random
// tokens, after one warm-up step, in this process.
struct StepBenchmark {
  double step_seconds = 0;        // mean over the timed steps
  double tokens_per_second = 0;
  int64_t peak_rss_bytes = 0;     // of this process, after the steps
};
Result<StepBenchmark> benchmark_train_steps(const RunConfig& run, int64_t steps,
                                            const std::string& device);

// For `mtpc bench load`: writes a randomly initialised `model` checkpoint to a
// temporary directory and times load_model over `repeats` loads.
struct LoadBenchmark {
  int64_t file_bytes = 0;         // model.safetensors
  double load_seconds = 0;        // mean
  double min_load_seconds = 0;
};
Result<LoadBenchmark> benchmark_checkpoint_load(const ModelConfig& model, bool bf16, int repeats);

}  // namespace mtpc
