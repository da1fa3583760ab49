// A matrix product for inference on the CPU: y = x w^T with row-major
// x [M, K], w [N, K] (a Linear's weight), y [M, N]. Torch-free.
//
// Two instruction sets, chosen once per process: AVX-512 (16 lanes, blocks
// of 4 rows x 6 columns) where the CPU has it, else AVX2/FMA (8 lanes).
// The property below holds within either; their results differ in the
// last bits (a different summation order), so a process never mixes them.
//
// Why not OpenBLAS: its sgemm packs the whole weight on every call, and at
// decoding sizes (M = 1..8 rows) that copy costs several times the
// arithmetic. This kernel reads the weight in place.
//
// Why exactly this arithmetic: every y[m][n] is computed the same way
// whatever M, the blocking or the split across threads — one 8-lane (or
// 16-lane) FMA accumulator over K in order, a fixed horizontal sum, the
// tail with scalar fma. So a row's result does not depend on which other rows share
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

enum class LinearKernelIsa { kAvx2, kAvx512 };
// Whether this CPU can run `isa` (kAvx512 needs AVX-512F besides AVX2/FMA).
bool linear_kernel_isa_available(LinearKernelIsa isa);
// The one linear_kernel() uses: kAvx512 where available, unless the
// environment has MTPC_LINEAR_KERNEL=avx2 (for side-by-side benchmarks).
LinearKernelIsa linear_kernel_isa();
// "avx512", "avx2", or "torch" where linear_kernel_available() is false:
// what benchmarks report.
const char* linear_kernel_name();

// Computes columns [n_begin, n_end) of y for all M rows with
// linear_kernel_isa(). Requires linear_kernel_available(). Thread-safe for
// disjoint column ranges.
void linear_kernel(const float* x, const float* w, float* y, int64_t M, int64_t N, int64_t K,
                   int64_t n_begin, int64_t n_end);
// y = x q^T with int8 weights q [N, K] and a scale per output row:
// y[m][n] = scale[n] * sum_k x[m][k] q[n][k]. Not row-exact like
// linear_kernel (its summation order is its own): for draft heads, whose
// outputs only propose tokens that the exact next-token head then checks.
// Requires linear_kernel_available().
void linear_kernel_q8(const float* x, const int8_t* q, const float* scale, float* y, int64_t M, int64_t N,
                      int64_t K);
void linear_kernel_q8_with(LinearKernelIsa isa, const float* x, const int8_t* q, const float* scale, float* y,
                           int64_t M, int64_t N, int64_t K);
// The same with a given instruction set (tests compare both); kAvx512 on a
// CPU without it runs kAvx2.
void linear_kernel_with(LinearKernelIsa isa, const float* x, const float* w, float* y, int64_t M, int64_t N,
                        int64_t K, int64_t n_begin, int64_t n_end);

}  // namespace mtpc
