// Data-parallel training on torch's c10d: one process per rank, a TCPStore
// rendezvous at MASTER_ADDR:MASTER_PORT (rank 0 hosts it), ProcessGroupGloo
// on CPU (ProcessGroupNCCL for CUDA tensors where LibTorch was built with
// NCCL and mtpc with MTPC_C10D_NCCL; Gloo otherwise). LibTorch header: only
// training code includes it; the c10d and Gloo headers stay in the .cpp.
//
// How a trainer uses it, in order:
//   1. auto dp = DataParallel::connect(env, timeouts, cuda);   // every rank
//   2. rows: take `dp->shard(global_batch)` of every global batch (disjoint,
//      so the ranks together see exactly what one process would);
//   3. dp->broadcast(parameters) once, so every rank starts from rank 0's;
//   4. after backward, before clipping and the optimizer step:
//      dp->allreduce_gradients(parameters) — averaged, in buckets;
//   5. losses and the stop flag agreed with dp->allreduce(...);
//   6. only rank 0 (dp->is_rank0()) writes checkpoints and logs.
//
// Under torchrun's static rendezvous (TORCHELASTIC_USE_AGENT_STORE=True)
// the agent hosts the store and every rank connects to it as a client.
//
// Contract: one object per process, used by the training thread only. Every
// collective must be called by every rank in the same order with the same
// shapes. A collective that fails (a rank died: its sockets close and the
// others fail at once; a rank hangs: past DistributedTimeouts::collective)
// throws std::runtime_error with a message naming the operation.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "base/status.h"
#include "model/training/distributed_env.h"

namespace mtpc {

class DataParallel {
 public:
  // Rendezvous and process group. Errors: the master unreachable or a rank
  // missing within timeouts.connect ("cannot reach the master at ADDR:PORT
  // ..."), a bad env.
  static Result<std::unique_ptr<DataParallel>> connect(const DistributedEnv& env,
                                                       const DistributedTimeouts& timeouts, bool cuda);
  ~DataParallel();

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  bool is_rank0() const { return env_.rank == 0; }

  // This rank's rows [begin, end) of a global batch; an error if the batch
  // does not divide by the world size.
  struct Shard {
    int begin = 0, end = 0;
  };
  Result<Shard> shard(int global_batch) const;

  // Gradients of `parameters` summed over the ranks and divided by the world
  // size, in buckets of up to `bucket_bytes` (flattened, one all-reduce per
  // bucket, all in flight before the first wait). A parameter without a
  // gradient counts as zeros.
  static constexpr int64_t kDefaultBucketBytes = 25 << 20;  // DDP's default
  void allreduce_gradients(const std::vector<torch::Tensor>& parameters,
                           int64_t bucket_bytes = kDefaultBucketBytes);

  // Rank 0's values of `tensors` copied into every rank's (in place).
  void broadcast(const std::vector<torch::Tensor>& tensors);

  // Element-wise over the ranks: the sum, or the maximum.
  std::vector<double> allreduce_sum(const std::vector<double>& values);
  std::vector<double> allreduce_max(const std::vector<double>& values);
  // `tensor` (any dtype Gloo sums: float, double, int32, int64) replaced by
  // its element-wise sum over the ranks, in place.
  void allreduce_sum_inplace(const torch::Tensor& tensor);

  // Waits for every rank (bounded by the collective timeout).
  void barrier();

 private:
  struct Impl;
  DataParallel(DistributedEnv env, std::unique_ptr<Impl> impl);
  DistributedEnv env_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtpc
