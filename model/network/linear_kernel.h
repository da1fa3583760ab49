// A matrix product for inference on the CPU: y = x w^T with row-major
// x [M, K], w [N, K] (a Linear's weight), y [M, N]. Torch-free.
//
// Why not OpenBLAS: its sgemm packs the whole weight on every call, and at
// decoding sizes (M = 1..8 rows) that copy costs several times the
// arithmetic. This kernel reads the weight in place.
//
// Why exactly this arithmetic: every y[m][n] is computed the same way
// whatever M, the blocking or the split across threads — one 8-lane FMA
// accumulator over K in order, a fixed horizontal sum, the tail with
// scalar fma. So a row's result does not depend on which other rows share
// the call: a prompt prefilled in one call and the same tokens decoded one
// at a time give bit-identical hidden states, which keeps speculative
// decoding and prefix reuse token-for-token equal to plain decoding.
#pragma once

#include <cstdint>

namespace mtpc {

// True when this CPU has AVX2 and FMA (checked once); always false on other
// architectures and in builds with -DMTPC_NO_LINEAR_KERNEL (torch's linear
// is used then).
bool linear_kernel_available();

// Computes columns [n_begin, n_end) of y for all M rows. Requires
// linear_kernel_available(). Thread-safe for disjoint column ranges.
void linear_kernel(const float* x, const float* w, float* y, int64_t M, int64_t N, int64_t K,
                   int64_t n_begin, int64_t n_end);

}  // namespace mtpc
