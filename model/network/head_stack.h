// Drafting with MLP heads in one call. MLP heads keep no cache, so drafting
// needs them only at the last accepted row; running heads 2..k there one
// module call at a time costs k small forward passes of fixed per-op
// overhead each, which on a CPU outweighs their arithmetic. The stack holds
// every head's weights side by side: the first two projections of a range
// of heads are one matrix product each, then one product per head.
//
// Same states as MlpHeadImpl::forward per head up to float summation order
// (tests/model/head_stack_test.cpp). Drafts only propose tokens: head 1
// verifies each one, so decoded outputs do not depend on this arithmetic.
// LibTorch header: included by model/ and inference/ sources only.
#pragma once

#include <torch/torch.h>

#include "model/network/network.h"

namespace mtpc {

class MlpHeadStack {
 public:
  // Copies the weights of every head of `model` (MLP heads only) in the
  // model's current dtype and device; rebuild after the weights change.
  static MlpHeadStack build(MtpModelImpl& model);

  // x [R, dim] trunk rows -> states [count, R, dim] of heads first ..
  // first + count - 1 at every row (before the shared final norm).
  torch::Tensor states(const torch::Tensor& x, int first, int count) const;

  int heads() const { return heads_; }

 private:
  // Each head's norm weight folded into the columns of its w1 and w3, the
  // heads' rows stacked: [n * hidden, dim], so a range of heads is one
  // contiguous slice and one matrix product.
  torch::Tensor w1_, w3_;
  torch::Tensor w2_;  // [n, dim, hidden]: each head's Linear weight
  torch::Tensor ones_;  // [dim]: the norm's weight once folded away
  int heads_ = 0;
  int64_t hidden_ = 0;
  double eps_ = 1e-5;
};

}  // namespace mtpc
