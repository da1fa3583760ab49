#include "model/network/linear_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#if (defined(__x86_64__) || defined(__i386__)) && !defined(MTPC_NO_LINEAR_KERNEL)
#include <immintrin.h>
#define MTPC_LINEAR_KERNEL_X86 1
#endif

namespace mtpc {

#ifdef MTPC_LINEAR_KERNEL_X86

bool linear_kernel_available() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

namespace {

#define MTPC_AVX2 __attribute__((target("avx2,fma")))

// The one way an element is finished: lanes summed in a fixed order, then
// the K % 8 tail with scalar fma.
MTPC_AVX2 inline float finish(__m256 acc, const float* x, const float* w, int64_t from, int64_t K) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  float r = _mm_cvtss_f32(s);
  for (int64_t k = from; k < K; ++k) r = std::fma(x[k], w[k], r);
  return r;
}

// R rows x O columns of y; every element its own accumulator.
template <int R, int O>
MTPC_AVX2 __attribute__((always_inline)) inline void block(const float* x, const float* w, float* y, int64_t N, int64_t K) {
  __m256 acc[R][O];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int o = 0; o < O; ++o) acc[r][o] = _mm256_setzero_ps();
  const int64_t K8 = K / 8 * 8;
  for (int64_t k = 0; k < K8; k += 8) {
    __m256 xv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) xv[r] = _mm256_loadu_ps(x + r * K + k);
#pragma GCC unroll 8
    for (int o = 0; o < O; ++o) {
      const __m256 wv = _mm256_loadu_ps(w + o * K + k);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][o] = _mm256_fmadd_ps(xv[r], wv, acc[r][o]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) y[r * N + o] = finish(acc[r][o], x + r * K, w + o * K, K8, K);
}

// Rows [m, m + R) against columns [n_begin, n_end).
template <int R, int O>
MTPC_AVX2 void rows(const float* x, const float* w, float* y, int64_t m, int64_t N, int64_t K,
                    int64_t n_begin, int64_t n_end) {
  int64_t n = n_begin;
  for (; n + O <= n_end; n += O) block<R, O>(x + m * K, w + n * K, y + m * N + n, N, K);
  for (; n < n_end; ++n) block<R, 1>(x + m * K, w + n * K, y + m * N + n, N, K);
}

}  // namespace

void linear_kernel(const float* x, const float* w, float* y, int64_t M, int64_t N, int64_t K,
                   int64_t n_begin, int64_t n_end) {
  // Columns in tiles whose weight rows stay in cache while every row of x
  // passes over them.
  const int64_t tile = std::max<int64_t>(8, (int64_t{96} * 1024 / 4) / std::max<int64_t>(K, 1) / 8 * 8);
  for (int64_t t = n_begin; t < n_end; t += tile) {
    const int64_t t_end = std::min(n_end, t + tile);
    int64_t m = 0;
    for (; m + 3 <= M; m += 3) rows<3, 4>(x, w, y, m, N, K, t, t_end);
    if (M - m == 2) rows<2, 4>(x, w, y, m, N, K, t, t_end);
    if (M - m == 1) rows<1, 8>(x, w, y, m, N, K, t, t_end);
  }
}

#else  // not x86, or built with -DMTPC_NO_LINEAR_KERNEL: torch's linear everywhere

bool linear_kernel_available() { return false; }

void linear_kernel(const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t) {
  std::abort();  // never called: linear_kernel_available() is false
}

#endif

}  // namespace mtpc
