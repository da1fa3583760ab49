// Training hyper-parameters and the `mtpc train` options. Torch-free.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "model/network/config.h"
#include "model/training/distributed_env.h"

namespace mtpc {

struct TrainConfig {
  int64_t steps = 1000;         // optimizer steps
  int batch_size = 8;           // windows per micro-batch
  int seq_len = 256;            // input tokens per window (plus n_future targets)
  int accum_steps = 1;          // micro-batches per optimizer step
  double lr = 1e-3;             // peak learning rate
  double min_lr_ratio = 0.1;    // cosine floor as a share of lr
  int64_t warmup_steps = 100;   // linear warm-up from 0
  double weight_decay = 0.1;    // AdamW, on matrices only
  double beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8;
  double grad_clip = 1.0;       // global L2 norm; 0 disables
  double fim_rate = 0.5;        // share of windows rewritten prefix-suffix-middle
  double fim_line_rate = 0;     // share of those whose middle is cut at line ends (train_data.h)
  uint64_t seed = 1234;         // initialisation and data order
  bool bf16 = true;             // bf16 autocast (~2.5x faster than fp32 on this CPU)
  std::string loss_order = "sequential";  // sequential (the paper's) | naive
  int64_t log_every = 10;       // steps between progress lines and log records
  int64_t eval_every = 200;     // steps between validation passes (0: only at the end)
  int eval_batches = 8;         // validation micro-batches per pass
  int64_t checkpoint_every = 200;  // steps between checkpoints (0: only at the end)

  Status validate(const ModelConfig& model) const;
};

// Training presets pair a model preset with a schedule sized for 2 cores.
Result<TrainConfig> train_preset(const std::string& name);

nlohmann::json train_config_to_json(const TrainConfig& config);
Result<TrainConfig> train_config_from_json(const nlohmann::json& j, const std::string& source);

// A run's full configuration from `--preset NAME` or `--config FILE` (JSON:
// {"preset": optional base, "model": {...}, "train": {...}}).
struct RunConfig {
  ModelConfig model;
  TrainConfig train;
};
Result<RunConfig> run_config_from_preset(const std::string& name);
Result<RunConfig> run_config_from_file(const std::string& path);

struct TrainOptions {
  RunConfig run;
  std::string data_dir;   // holds train.bin, val.bin (mtpc corpus build)
  std::string out_dir;    // checkpoint/, train.jsonl
  bool resume = false;    // continue from out_dir/checkpoint if present
  // A fresh run (no checkpoint in out_dir) starts from this model
  // directory's weights instead of random ones: an mtpc checkpoint whose
  // model config equals run.model in every shape (fim may differ: a model
  // can be taught another fill-in-the-middle layout). Fresh optimizer and
  // schedule; the provenance records it as "init". Empty: random weights.
  std::string init_dir;
  std::optional<int64_t> steps_override;  // with resume: extend or shorten the run
  std::string device = "cpu";
  // Data-parallel: set from the torchrun variables (distributed_env.h). When
  // enabled, run.train.batch_size is the global batch (split over the ranks),
  // only rank 0 writes out_dir, and a checkpoint resumes only at the world
  // size that wrote it.
  DistributedEnv dist;
  DistributedTimeouts dist_timeouts;
  // Progress lines (default: stderr). Tests capture them.
  std::function<void(const std::string&)> progress;
};

}  // namespace mtpc
