// Drafting with MLP heads in one call. MLP heads keep no cache, so drafting
// needs them only at the last accepted row; running heads 2..k there one
// module call at a time costs k small forward passes of fixed per-op
// overhead each, which on a CPU outweighs their arithmetic. The stack holds
// every head's weights side by side: the first two projections of a range
// of heads are one matrix product each, then one product per head.
//
// Same states as MlpHeadImpl::forward per head up to float summation order
// (kExact) or int8 rounding of the weights (kInt8)
// (tests/model/head_stack_test.cpp). Drafts only propose tokens: head 1
// verifies each one, so decoded outputs do not depend on this arithmetic.
// LibTorch header: included by model/ and inference/ sources only.
#pragma once

#include <torch/torch.h>

#include "model/network/network.h"

namespace mtpc {

// How the stack keeps its weights. kInt8: each matrix row quantised to
// int8 with its own scale (max |w| / 127), a quarter of the fp32 bytes. At
// decoding sizes a head is one row against its weights, so its time is
// the time to read them: seven 704-wide fp32 heads of the shipped model
// (15 MB) cost about as much as the verifying pass they save. Only for
// drafting on a CPU in fp32 with the inference kernel
// (linear_kernel_available()); elsewhere kInt8 builds kExact.
enum class DraftWeights { kExact, kInt8 };

class MlpHeadStack {
 public:
  // Copies the weights of every head of `model` (MLP heads only) in the
  // model's current dtype and device; rebuild after the weights change.
  static MlpHeadStack build(MtpModelImpl& model, DraftWeights weights = DraftWeights::kExact);

  // x [R, dim] trunk rows -> states [count, R, dim] of heads first ..
  // first + count - 1 at every row (before the shared final norm). kInt8
  // stacks take fp32 CPU rows (the model's own dtype and device).
  torch::Tensor states(const torch::Tensor& x, int first, int count) const;

  int heads() const { return heads_; }
  // What build() kept: kInt8 only where it could.
  DraftWeights weights() const { return quantized_ ? DraftWeights::kInt8 : DraftWeights::kExact; }

 private:
  // Each head's norm weight folded into the columns of its w1 and w3, the
  // heads' rows stacked: [n * hidden, dim], so a range of heads is one
  // contiguous slice and one matrix product.
  torch::Tensor w1_, w3_;
  torch::Tensor w2_;  // [n, dim, hidden]: each head's Linear weight
  torch::Tensor ones_;  // [dim]: the norm's weight once folded away
  // kInt8: the same matrices as int8 [rows, cols] with a float scale per
  // row (w2 per head: [n, dim, hidden] and [n, dim]); w1_, w3_, w2_ are
  // then released.
  bool quantized_ = false;
  torch::Tensor q1_, q3_, q2_, s1_, s3_, s2_;
  int heads_ = 0;
  int64_t hidden_ = 0;
  double eps_ = 1e-5;
};

}  // namespace mtpc
