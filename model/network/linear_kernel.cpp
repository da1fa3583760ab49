#include "model/network/linear_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <type_traits>

#if (defined(__x86_64__) || defined(__i386__)) && !defined(MTPC_NO_LINEAR_KERNEL)
#include <immintrin.h>
#define MTPC_LINEAR_KERNEL_X86 1
#endif

namespace mtpc {

#ifdef MTPC_LINEAR_KERNEL_X86

namespace {

#define MTPC_AVX2 __attribute__((target("avx2,fma")))
#define MTPC_AVX512 __attribute__((target("avx512f,avx2,fma")))

// ---- AVX2/FMA: 8 lanes ----

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
      // As block16: the weight rows two blocks ahead, while these compute.
      _mm_prefetch(reinterpret_cast<const char*>(w + (o + 2 * O) * K + k), _MM_HINT_T0);
      __m256 wv = _mm256_loadu_ps(w + o * K + k);
      asm("" : "+x"(wv));  // one load for the R rows, as in block16
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

void kernel_avx2(const float* x, const float* w, float* y, int64_t M, int64_t N, int64_t K, int64_t n_begin,
                 int64_t n_end) {
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

// ---- AVX-512: 16 lanes, twice the multiply-adds per instruction and 32
// registers, so blocks of 4 rows x 6 columns ----

// As finish(): the 16 lanes folded to 8 (lane i + lane i + 8), then the
// same fixed order, then the K % 16 tail with scalar fma.
MTPC_AVX512 inline float finish16(__m512 acc, const float* x, const float* w, int64_t from, int64_t K) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  float r = _mm_cvtss_f32(s);
  for (int64_t k = from; k < K; ++k) r = std::fma(x[k], w[k], r);
  return r;
}

template <int R, int O>
MTPC_AVX512 __attribute__((always_inline)) inline void block16(const float* x, const float* w, float* y, int64_t N,
                                                                  int64_t K) {
  __m512 acc[R][O];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int o = 0; o < O; ++o) acc[r][o] = _mm512_setzero_ps();
  const int64_t K16 = K / 16 * 16;
  for (int64_t k = 0; k < K16; k += 16) {
    __m512 xv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) xv[r] = _mm512_loadu_ps(x + r * K + k);
#pragma GCC unroll 8
    for (int o = 0; o < O; ++o) {
      // The weight rows two blocks ahead, one line each per step: streamed
      // weights (megabytes per pass) arrive before they are needed.
      _mm_prefetch(reinterpret_cast<const char*>(w + (o + 2 * O) * K + k), _MM_HINT_T0);
      __m512 wv = _mm512_loadu_ps(w + o * K + k);
      // One load per weight vector, kept in a register for the R rows: left
      // alone, GCC folds it into each FMA (R loads), and at R = 2, 3 the
      // loads, not the FMAs, then bound the loop.
      asm("" : "+v"(wv));
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][o] = _mm512_fmadd_ps(xv[r], wv, acc[r][o]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) y[r * N + o] = finish16(acc[r][o], x + r * K, w + o * K, K16, K);
}

// Columns [n, n + O) for every row: the O weight rows (O * K floats) stay
// in L1 while each block of up to 4 rows passes over them, and block16's
// prefetch keeps the next columns' rows coming from memory meanwhile.
template <int O>
MTPC_AVX512 void columns16(const float* x, const float* w, float* y, int64_t M, int64_t N, int64_t K, int64_t n) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) block16<4, O>(x + m * K, w + n * K, y + m * N + n, N, K);
  switch (M - m) {
    case 3: block16<3, O>(x + m * K, w + n * K, y + m * N + n, N, K); break;
    case 2: block16<2, O>(x + m * K, w + n * K, y + m * N + n, N, K); break;
    case 1: block16<1, O>(x + m * K, w + n * K, y + m * N + n, N, K); break;
    default: break;
  }
}

MTPC_AVX512 void kernel_avx512(const float* x, const float* w, float* y, int64_t M, int64_t N, int64_t K,
                               int64_t n_begin, int64_t n_end) {
  int64_t n = n_begin;
  for (; n + 6 <= n_end; n += 6) columns16<6>(x, w, y, M, N, K, n);
  for (; n < n_end; ++n) columns16<1>(x, w, y, M, N, K, n);
}

bool cpu_has_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
                         __builtin_cpu_supports("fma");
  return ok;
}

// MTPC_LINEAR_KERNEL=avx2 keeps the 8-lane kernel on an AVX-512 CPU (for
// side-by-side benchmarks); read once.
LinearKernelIsa chosen_isa() {
  static const LinearKernelIsa isa = [] {
    const char* v = std::getenv("MTPC_LINEAR_KERNEL");
    if (v != nullptr && std::string(v) == "avx2") return LinearKernelIsa::kAvx2;
    return cpu_has_avx512() ? LinearKernelIsa::kAvx512 : LinearKernelIsa::kAvx2;
  }();
  return isa;
}

// ---- int8 weights with a scale per output row (draft heads only) ----

template <int R, int O>
MTPC_AVX512 __attribute__((always_inline)) inline void block_q8_16(const float* x, const int8_t* q, const float* scale,
                                                                    float* y, int64_t N, int64_t K) {
  __m512 acc[R][O];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int o = 0; o < O; ++o) acc[r][o] = _mm512_setzero_ps();
  const int64_t K16 = K / 16 * 16;
  for (int64_t k = 0; k < K16; k += 16) {
    __m512 xv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) xv[r] = _mm512_loadu_ps(x + r * K + k);
#pragma GCC unroll 8
    for (int o = 0; o < O; ++o) {
      if ((k & 63) == 0) _mm_prefetch(reinterpret_cast<const char*>(q + (o + 2 * O) * K + k), _MM_HINT_T0);
      const __m512 wv = _mm512_cvtepi32_ps(
          _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + o * K + k))));
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][o] = _mm512_fmadd_ps(xv[r], wv, acc[r][o]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) {
      float v = _mm512_reduce_add_ps(acc[r][o]);
      for (int64_t k = K16; k < K; ++k) v = std::fma(x[r * K + k], static_cast<float>(q[o * K + k]), v);
      y[r * N + o] = v * scale[o];
    }
}

template <int R, int O>
MTPC_AVX512 void rows_q8_16(const float* x, const int8_t* q, const float* scale, float* y, int64_t m, int64_t N,
                            int64_t K) {
  int64_t n = 0;
  for (; n + O <= N; n += O) block_q8_16<R, O>(x + m * K, q + n * K, scale + n, y + m * N + n, N, K);
  for (; n < N; ++n) block_q8_16<R, 1>(x + m * K, q + n * K, scale + n, y + m * N + n, N, K);
}

void kernel_q8_avx512(const float* x, const int8_t* q, const float* scale, float* y, int64_t M, int64_t N, int64_t K) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) rows_q8_16<4, 4>(x, q, scale, y, m, N, K);
  switch (M - m) {
    case 3: rows_q8_16<3, 4>(x, q, scale, y, m, N, K); break;
    case 2: rows_q8_16<2, 4>(x, q, scale, y, m, N, K); break;
    case 1: rows_q8_16<1, 8>(x, q, scale, y, m, N, K); break;
    default: break;
  }
}

template <int W>
MTPC_AVX2 void cols_q8_8(const float* x, const int8_t* q, const float* scale, float* y, int64_t n0, int64_t K) {
  const int64_t K8 = K / 8 * 8;
  __m256 acc[W];
#pragma GCC unroll 8
  for (int o = 0; o < W; ++o) acc[o] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K8; k += 8) {
    const __m256 xv = _mm256_loadu_ps(x + k);
#pragma GCC unroll 8
    for (int o = 0; o < W; ++o) {
      const __m256 wv = _mm256_cvtepi32_ps(
          _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + (n0 + o) * K + k))));
      acc[o] = _mm256_fmadd_ps(xv, wv, acc[o]);
    }
  }
  for (int o = 0; o < W; ++o) {
    float v = finish(acc[o], x, x, K, K);  // the lanes only: the tail follows
    for (int64_t k = K8; k < K; ++k) v = std::fma(x[k], static_cast<float>(q[(n0 + o) * K + k]), v);
    y[n0 + o] = v * scale[n0 + o];
  }
}

MTPC_AVX2 void row_q8_8(const float* x, const int8_t* q, const float* scale, float* y, int64_t N, int64_t K) {
  int64_t n = 0;
  for (; n + 8 <= N; n += 8) cols_q8_8<8>(x, q, scale, y, n, K);
  for (; n < N; ++n) cols_q8_8<1>(x, q, scale, y, n, K);
}

void kernel_q8_avx2(const float* x, const int8_t* q, const float* scale, float* y, int64_t M, int64_t N, int64_t K) {
  for (int64_t m = 0; m < M; ++m) row_q8_8(x + m * K, q, scale, y + m * N, N, K);
}

}  // namespace

bool linear_kernel_available() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

bool linear_kernel_isa_available(LinearKernelIsa isa) {
  if (!linear_kernel_available()) return false;
  return isa == LinearKernelIsa::kAvx2 || cpu_has_avx512();
}

LinearKernelIsa linear_kernel_isa() { return chosen_isa(); }

const char* linear_kernel_name() {
  if (!linear_kernel_available()) return "torch";
  return chosen_isa() == LinearKernelIsa::kAvx512 ? "avx512" : "avx2";
}

void linear_kernel_with(LinearKernelIsa isa, const float* x, const float* w, float* y, int64_t M, int64_t N,
                        int64_t K, int64_t n_begin, int64_t n_end) {
  if (isa == LinearKernelIsa::kAvx512 && cpu_has_avx512()) kernel_avx512(x, w, y, M, N, K, n_begin, n_end);
  else kernel_avx2(x, w, y, M, N, K, n_begin, n_end);
}

void linear_kernel(const float* x, const float* w, float* y, int64_t M, int64_t N, int64_t K,
                   int64_t n_begin, int64_t n_end) {
  linear_kernel_with(chosen_isa(), x, w, y, M, N, K, n_begin, n_end);
}

void linear_kernel_q8(const float* x, const int8_t* q, const float* scale, float* y, int64_t M, int64_t N,
                      int64_t K) {
  linear_kernel_q8_with(chosen_isa(), x, q, scale, y, M, N, K);
}

void linear_kernel_q8_with(LinearKernelIsa isa, const float* x, const int8_t* q, const float* scale, float* y,
                           int64_t M, int64_t N, int64_t K) {
  if (isa == LinearKernelIsa::kAvx512 && cpu_has_avx512()) kernel_q8_avx512(x, q, scale, y, M, N, K);
  else kernel_q8_avx2(x, q, scale, y, M, N, K);
}

#else  // not x86, or built with -DMTPC_NO_LINEAR_KERNEL: torch's linear everywhere

bool linear_kernel_available() { return false; }

bool linear_kernel_isa_available(LinearKernelIsa) { return false; }
LinearKernelIsa linear_kernel_isa() { return LinearKernelIsa::kAvx2; }
const char* linear_kernel_name() { return "torch"; }

void linear_kernel_with(LinearKernelIsa, const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t,
                        int64_t) {
  std::abort();  // never called: linear_kernel_available() is false
}

void linear_kernel(const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t) {
  std::abort();  // never called: linear_kernel_available() is false
}

void linear_kernel_q8(const float*, const int8_t*, const float*, float*, int64_t, int64_t, int64_t) {
  std::abort();  // never called: linear_kernel_available() is false
}

void linear_kernel_q8_with(LinearKernelIsa, const float*, const int8_t*, const float*, float*, int64_t, int64_t,
                           int64_t) {
  std::abort();  // never called: linear_kernel_available() is false
}

#endif

}  // namespace mtpc
