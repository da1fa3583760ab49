// Causal attention of a few new rows against a KV cache, for inference on
// the CPU in fp32. Torch-free.
//
// Why not torch's ops: a decoding pass attends 1..k+1 rows to hundreds of
// cached positions, and the torch expression copies the whole cache per
// layer to repeat grouped KV heads (repeat_interleave), lets BLAS pack it
// again for two small matrix products and builds a mask: at 400 cached
// tokens that was half the time of a one-row pass of the shipped model.
// Here each query row reads its KV head's rows in place.
//
// Why exactly this arithmetic: a row's result depends only on its own
// query, its absolute position and the cache — each score a fixed sum of
// its own products (keys taken 8 at a time at fixed offsets), an 8-lane
// max and exp-sum laid out by key index, the weighted sum of values as two
// chains (even and odd keys) in key order — never on how many rows share
// the call. A prompt prefilled in one call and the same tokens decoded one
// at a time or in a speculative pass give bit-identical outputs, as
// linear_kernel.h does for the projections.
#pragma once

#include <cstdint>

#include "model/network/linear_kernel.h"

namespace mtpc {

// True when this CPU has AVX2 and FMA (linear_kernel_available()).
bool attention_kernel_available();

// q: [T, H, D] rows at absolute positions total - T .. total - 1; k, v: the
// cache of KV head g at k + g * head_stride, [total, D] row-major (positions
// 0..total-1 valid); out: [T, H, D]. Query head h uses KV head h / (H / KV).
// Row j attends keys 0 .. total - T + j, scores scaled by `scale`.
// Computes query heads [h_begin, h_end) for every row. Requires
// attention_kernel_available(). Thread-safe for disjoint head ranges.
void attention_kernel(const float* q, const float* k, const float* v, float* out, int64_t T, int64_t H,
                      int64_t KV, int64_t D, int64_t total, int64_t head_stride, float scale, int64_t h_begin,
                      int64_t h_end);
// The same with a given instruction set (the linear kernel's, by default):
// kAvx512 computes the weighted values 16 lanes at a time, in the same
// order per element, so both give the same bits (a test checks).
void attention_kernel_with(LinearKernelIsa isa, const float* q, const float* k, const float* v, float* out,
                           int64_t T, int64_t H, int64_t KV, int64_t D, int64_t total, int64_t head_stride,
                           float scale, int64_t h_begin, int64_t h_end);

}  // namespace mtpc
