// Packed batches: several sequences' rows concatenated along T of a [1, N]
// input, each with its own start position and KvCache. Every position-wise
// op (embedding, norms, projections, FFN) runs once over all N rows;
// attention runs per sequence against that sequence's cache. So each
// sequence keeps its own cache (sessions reuse prefixes, roll back and draft
// different lengths independently) while the matmuls are shared.
//
// Same results per row as MtpModelImpl::trunk / head_states with each
// segment's start and cache (tests/inference/batch_test.cpp, PackedModel).
// LibTorch header: included by model/ and inference/ sources only.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/network/network.h"

namespace mtpc {

// One sequence's rows in a packed call: `length` rows at absolute positions
// start .. start + length - 1, attending to `cache` (nullptr: only to the
// segment's own rows). Segments appear in the input in vector order.
struct PackedSegment {
  int64_t start = 0;
  int64_t length = 0;
  KvCache* cache = nullptr;
};

// tokens [1, N] -> hidden [1, N, dim]; the segments' lengths sum to N.
torch::Tensor trunk_packed(MtpModelImpl& model, const torch::Tensor& tokens,
                           const std::vector<PackedSegment>& segments);
// Head `index` on packed trunk output [1, N, dim] -> head states [1, N, dim]
// (before the shared final norm and unembedding, MtpModelImpl::logits).
torch::Tensor head_states_packed(MtpModelImpl& model, int index, const torch::Tensor& hidden,
                                 const std::vector<PackedSegment>& segments);

}  // namespace mtpc
