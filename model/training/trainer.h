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

}  // namespace mtpc
