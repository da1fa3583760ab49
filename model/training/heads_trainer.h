// `mtpc train heads`: drafting heads retrofitted onto a frozen model by
// self-distillation (Medusa-1's recipe on mtpc's network). Torch-free header.
//
// The base model is never changed: its parameters take no gradients and its
// trunk and next-token head run under inference mode, exactly as decoding
// runs them. Only heads 2..N are trained (heads_checkpoint.h says how they
// start and how they are stored).
//
// Targets (`targets`):
//   "distill"  sequences of p corpus tokens (p in [min_prompt_len,
//              prompt_len]) followed by gen_len tokens of the base's own
//              greedy continuation, generated once into OUT/targets.bin
//              (records of 1 + prompt_len + gen_len int32: p, the tokens,
//              zeros; OUT/targets.json says how they were made) and resumed
//              where a stopped run left them. Head i (1-based) at position t
//              learns head 1's greedy token at position t + i - 1, at the
//              positions whose next i - 1 tokens are the base's own
//              (t >= p - 1): what drafting meets.
//   "corpus"   windows of the corpus; head i learns the corpus token t + i
//              (joint training's target, for comparison).
// Outputs in OUT: heads/ (a heads directory that --model loads, plus
// optimizer.safetensors and trainer_state.json; replaced atomically at each
// checkpoint), train.jsonl (a record per logged step and evaluation),
// targets.bin / targets.json.
//
// Data-parallel (options.dist enabled; model/training/distributed.h): every
// rank loads the base; the distilled targets are generated once, sharded:
// the missing batches of generate_batch prompts go round-robin to the ranks,
// each appending to its own OUT/targets.part-R-of-W-*.bin (resumable, never
// a file two ranks write), then one all-reduce hands every rank all records
// and rank 0 alone writes targets.bin. Each step every rank runs its shard
// of the global batch, the new heads' gradients are averaged over the ranks
// before clipping, and rank 0 writes the checkpoint, train.jsonl and the
// progress lines. Resume: rank 0 reads OUT/heads and broadcasts the heads,
// the optimizer state and the step; a checkpoint written at another world
// size is refused. A rank that dies or hangs makes the others fail with an
// error naming the collective. With cache_dir, rank 0 builds the disk cache
// while the others wait (within the collective timeout), then every rank
// reads it: cache_dir must be a directory every rank sees.
//
// Errors, each a Status naming the file or flag: a missing base, heads or
// targets made for another base (checksum), a corpus that is missing, empty
// or shorter than one window, N < 2, a head kind the base cannot take,
// sequences longer than the base's context, OUT/heads present without resume,
// a global batch that does not divide by the world size, a resume at another
// world size, cache_dir with corpus targets.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/network/config.h"
#include "model/training/distributed_env.h"

namespace mtpc {

struct HeadsTrainOptions {
  std::string base_dir;   // the frozen model (any directory load_model reads)
  std::string data_dir;   // corpus directory: train.bin (mtpc corpus build)
  std::string out_dir;
  int n_future = 4;       // heads after retrofit, head 1 (the base's) included
  HeadKind head_kind = HeadKind::kMlp;
  std::string targets = "distill";  // distill | corpus
  int sequences = 512;    // distilled sequences (every 10th held out for evaluation)
  int prompt_len = 64;    // corpus tokens before each continuation (the most)
  // The fewest: each batch of prompts draws its length from [min_prompt_len,
  // prompt_len], so the heads learn at the positions decoding meets. 0: prompt_len.
  int min_prompt_len = 0;
  int gen_len = 128;      // greedy tokens after each prompt
  int generate_batch = 16;  // prompts continued at once
  int64_t steps = 400;    // optimizer steps
  int batch_size = 8;     // sequences per step
  double lr = 1e-3;       // peak; warm-up then cosine to lr * min_lr_ratio
  double min_lr_ratio = 0.1;
  int64_t warmup_steps = 20;
  double weight_decay = 0.0;
  double grad_clip = 1.0;  // global L2 norm; 0 disables
  uint64_t seed = 1234;    // new heads' initialisation, prompt positions, batch order
  int64_t log_every = 10;
  int64_t eval_every = 100;  // 0: only at the end
  int eval_batches = 4;
  int64_t checkpoint_every = 100;  // 0: only at the end
  // Distill: keep each sequence's trunk states and head 1's tokens in memory
  // after their first pass (L * dim * 4 bytes a sequence), so later epochs
  // skip the frozen forward.
  bool cache_hidden = false;
  // Distill: the same states cached on DISK in this directory, in one file
  // named after the base's and the targets' checksums (hidden_cache.h),
  // built once with the frozen forward and read by every later epoch, run
  // and resume; a file that fails its checks is rebuilt. Supersedes
  // cache_hidden. "" = no disk cache.
  std::string cache_dir;
  // Data-parallel: this process's place in a torchrun-style job (disabled:
  // a plain run) and its timeouts. batch_size is the global batch.
  DistributedEnv dist;
  DistributedTimeouts dist_timeouts;
  bool resume = false;
  std::string device = "cpu";
  std::function<void(const std::string&)> progress;  // default: stderr
};

struct HeadsTrainSummary {
  int64_t final_step = 0;
  int64_t target_sequences = 0;
  std::vector<double> first_loss, last_loss;  // per new head (2..N), nats
  // Held-out evaluation at the end: per new head, mean cross-entropy and the
  // share of positions where its argmax is the target (its acceptance if
  // every earlier draft were accepted).
  std::vector<double> eval_loss, eval_agreement;
  std::vector<double> start_eval_loss, start_eval_agreement;  // the same before this run's first step
  std::string heads_dir;
  // Sequences the frozen trunk ran for during training and evaluation (0
  // when every state came from the disk cache), and the disk cache used.
  int64_t frozen_rows = 0;
  std::string hidden_cache;
  bool hidden_cache_built = false;  // this run (re)built it
};

Result<HeadsTrainSummary> train_heads(const HeadsTrainOptions& options);

}  // namespace mtpc
