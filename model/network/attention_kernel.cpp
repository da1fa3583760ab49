#include "model/network/attention_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "model/network/linear_kernel.h"

#if (defined(__x86_64__) || defined(__i386__)) && !defined(MTPC_NO_LINEAR_KERNEL)
#include <immintrin.h>
#define MTPC_ATTENTION_KERNEL_X86 1
#endif

namespace mtpc {

#ifdef MTPC_ATTENTION_KERNEL_X86

bool attention_kernel_available() { return linear_kernel_available(); }

namespace {

#define MTPC_AVX2 __attribute__((target("avx2,fma")))

// e^x for 8 lanes (x <= 0 here): Cephes' expf, range-reduced by ln 2 and a
// degree-5 polynomial, about 1 ulp; lanes below -87 give 0.
MTPC_AVX2 inline __m256 exp8(__m256 x) {
  const __m256 lowest = _mm256_set1_ps(-87.0f);
  const __m256 tiny = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
  x = _mm256_max_ps(x, lowest);
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, z, x);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  const __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(n));
  return _mm256_andnot_ps(tiny, y);
}

MTPC_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// The 8-lane accumulators of 8 keys' dot products -> their 8 sums, lane
// i for key i. Each key's sum is the same fixed tree of its own lanes
// ((0+1)+(2+3)) + ((4+5)+(6+7)) wherever it sits among the 8.
MTPC_AVX2 inline __m256 sum8(const __m256 a[8]) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]);
  const __m256 t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]);
  const __m256 t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1);  // keys 0..3: lanes 0-3 low half, 4-7 high half
  const __m256 u1 = _mm256_hadd_ps(t2, t3);  // keys 4..7
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Scores of one query against keys 0..n-1 into s, scaled: keys in groups
// of 8, each key q . k over D in 8-lane products in order, summed by
// sum8(), then the D % 8 tail with scalar fma. The last group's missing
// keys read `zero` (D floats) and are discarded; so a key's score does
// not depend on n or on the keys beside it.
MTPC_AVX2 void scores(const float* q, const float* k, int64_t n, int64_t D, float scale, const float* zero,
                      float* s) {
  const int64_t D8 = D / 8 * 8;
  for (int64_t p0 = 0; p0 < n; p0 += 8) {
    const float* rows[8];
    for (int i = 0; i < 8; ++i) rows[i] = p0 + i < n ? k + (p0 + i) * D : zero;
    // Eight named accumulators: an array of them ends up on the stack.
    const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3], *r4 = rows[4], *r5 = rows[5],
                *r6 = rows[6], *r7 = rows[7];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int64_t d = 0; d < D8; d += 8) {
      const __m256 qv = _mm256_loadu_ps(q + d);
      a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r0 + d), a0);
      a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r1 + d), a1);
      a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r2 + d), a2);
      a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r3 + d), a3);
      a4 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r4 + d), a4);
      a5 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r5 + d), a5);
      a6 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r6 + d), a6);
      a7 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r7 + d), a7);
    }
    const __m256 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    if (D8 == D) {  // no tail: the 8 scores at once (s has room for a whole last group)
      _mm256_storeu_ps(s + p0, _mm256_mul_ps(sum8(acc), _mm256_set1_ps(scale)));
      continue;
    }
    alignas(32) float sums[8];
    _mm256_store_ps(sums, sum8(acc));
    const int64_t m = std::min<int64_t>(8, n - p0);
    for (int64_t i = 0; i < m; ++i) {
      float r = sums[i];
      for (int64_t d = D8; d < D; ++d) r = std::fma(q[d], rows[i][d], r);
      s[p0 + i] = r * scale;
    }
  }
}

#define MTPC_AVX512 __attribute__((target("avx512f,avx2,fma")))

// out[d] = (sum of e_p v_p[d] over even p + the same over odd p) * inv for
// d < D / 16 * 16, each chain in key order, 16 columns per vector (up to
// 64 at once). Returns the columns done.
MTPC_AVX512 int64_t weighted_values16(const float* s, const float* v, float* out, int64_t n, int64_t D, float inv) {
  const int64_t D16 = D / 16 * 16;
  for (int64_t d0 = 0; d0 < D16; d0 += 64) {
    const int64_t groups = std::min<int64_t>(4, (D16 - d0) / 16);
    __m512 even[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    __m512 odd[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t p = 0;
    if (groups == 2) {  // D = 32, the shipped model's head width
      __m512 e0a = even[0], e0b = even[1], o0a = odd[0], o0b = odd[1];
      for (; p + 2 <= n; p += 2) {
        const __m512 a = _mm512_set1_ps(s[p]), b = _mm512_set1_ps(s[p + 1]);
        const float* r0 = v + p * D + d0;
        const float* r1 = r0 + D;
        e0a = _mm512_fmadd_ps(a, _mm512_loadu_ps(r0), e0a);
        e0b = _mm512_fmadd_ps(a, _mm512_loadu_ps(r0 + 16), e0b);
        o0a = _mm512_fmadd_ps(b, _mm512_loadu_ps(r1), o0a);
        o0b = _mm512_fmadd_ps(b, _mm512_loadu_ps(r1 + 16), o0b);
      }
      even[0] = e0a, even[1] = e0b, odd[0] = o0a, odd[1] = o0b;
    } else {
      for (; p + 2 <= n; p += 2) {
        const __m512 a = _mm512_set1_ps(s[p]), b = _mm512_set1_ps(s[p + 1]);
        const float* r0 = v + p * D + d0;
        const float* r1 = r0 + D;
        for (int64_t g = 0; g < groups; ++g) {
          even[g] = _mm512_fmadd_ps(a, _mm512_loadu_ps(r0 + 16 * g), even[g]);
          odd[g] = _mm512_fmadd_ps(b, _mm512_loadu_ps(r1 + 16 * g), odd[g]);
        }
      }
    }
    if (p < n) {
      const __m512 a = _mm512_set1_ps(s[p]);
      const float* r0 = v + p * D + d0;
      for (int64_t g = 0; g < groups; ++g) even[g] = _mm512_fmadd_ps(a, _mm512_loadu_ps(r0 + 16 * g), even[g]);
    }
    const __m512 iv = _mm512_set1_ps(inv);
    for (int64_t g = 0; g < groups; ++g)
      _mm512_storeu_ps(out + d0 + 16 * g, _mm512_mul_ps(_mm512_add_ps(even[g], odd[g]), iv));
  }
  return D16;
}

// One query row of one head against keys 0..n-1. `s` has room for n
// rounded up to 8; `zero` holds D zeros. `wide`: AVX-512 for the values.
MTPC_AVX2 void attend_row(const float* q, const float* k, const float* v, float* out, int64_t n, int64_t D,
                          float scale, float* s, const float* zero, bool wide) {
  scores(q, k, n, D, scale, zero, s);
  // Padding lanes of the last group of 8 give 0 (exp of -inf).
  const int64_t n8 = (n + 7) / 8 * 8;
  for (int64_t p = n; p < n8; ++p) s[p] = -INFINITY;
  // The maximum is exact in any order.
  __m256 mx = _mm256_set1_ps(-INFINITY);
  for (int64_t p = 0; p < n8; p += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(s + p));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mx);
  float m = lanes[0];
  for (int i = 1; i < 8; ++i) m = std::max(m, lanes[i]);
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t p = 0; p < n8; p += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p), mv));
    _mm256_storeu_ps(s + p, e);
    sum = _mm256_add_ps(sum, e);
  }
  const float inv = 1.0f / hsum(sum);
  // out = sum_p e_p v_p / sum, D in groups of 8 (up to 4 at once): even
  // keys into one set of accumulators and odd keys into another, each in
  // key order, the two added at the end (two chains keep both FMA units
  // busy).
  const int64_t D8 = D / 8 * 8;
  // With AVX-512 the first D / 16 * 16 columns go 16 lanes at a time:
  // each element the same two chains, so the same bits.
  const int64_t done = wide ? weighted_values16(s, v, out, n, D, inv) : 0;
  for (int64_t d0 = done; d0 < D8; d0 += 32) {
    const int64_t groups = std::min<int64_t>(4, (D8 - d0) / 8);
    __m256 even[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 odd[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t p = 0;
    if (groups == 4) {
      for (; p + 2 <= n; p += 2) {
        const __m256 e0 = _mm256_set1_ps(s[p]), e1 = _mm256_set1_ps(s[p + 1]);
        const float* r0 = v + p * D + d0;
        const float* r1 = r0 + D;
#pragma GCC unroll 4
        for (int g = 0; g < 4; ++g) {
          even[g] = _mm256_fmadd_ps(e0, _mm256_loadu_ps(r0 + 8 * g), even[g]);
          odd[g] = _mm256_fmadd_ps(e1, _mm256_loadu_ps(r1 + 8 * g), odd[g]);
        }
      }
    } else {
      for (; p + 2 <= n; p += 2) {
        const __m256 e0 = _mm256_set1_ps(s[p]), e1 = _mm256_set1_ps(s[p + 1]);
        const float* r0 = v + p * D + d0;
        const float* r1 = r0 + D;
        for (int64_t g = 0; g < groups; ++g) {
          even[g] = _mm256_fmadd_ps(e0, _mm256_loadu_ps(r0 + 8 * g), even[g]);
          odd[g] = _mm256_fmadd_ps(e1, _mm256_loadu_ps(r1 + 8 * g), odd[g]);
        }
      }
    }
    if (p < n) {
      const __m256 e0 = _mm256_set1_ps(s[p]);
      const float* r0 = v + p * D + d0;
      for (int64_t g = 0; g < groups; ++g) even[g] = _mm256_fmadd_ps(e0, _mm256_loadu_ps(r0 + 8 * g), even[g]);
    }
    const __m256 iv = _mm256_set1_ps(inv);
    for (int64_t g = 0; g < groups; ++g)
      _mm256_storeu_ps(out + d0 + 8 * g, _mm256_mul_ps(_mm256_add_ps(even[g], odd[g]), iv));
  }
  for (int64_t d = D8; d < D; ++d) {
    float a = 0;
    for (int64_t p = 0; p < n; ++p) a = std::fma(s[p], v[p * D + d], a);
    out[d] = a * inv;
  }
}

}  // namespace

void attention_kernel(const float* q, const float* k, const float* v, float* out, int64_t T, int64_t H,
                      int64_t KV, int64_t D, int64_t total, int64_t head_stride, float scale, int64_t h_begin,
                      int64_t h_end) {
  attention_kernel_with(linear_kernel_isa(), q, k, v, out, T, H, KV, D, total, head_stride, scale, h_begin, h_end);
}

void attention_kernel_with(LinearKernelIsa isa, const float* q, const float* k, const float* v, float* out,
                           int64_t T, int64_t H, int64_t KV, int64_t D, int64_t total, int64_t head_stride,
                           float scale, int64_t h_begin, int64_t h_end) {
  const int64_t rep = H / KV;
  std::vector<float> s((total + 7) / 8 * 8);
  const std::vector<float> zero(D, 0.0f);
  const bool wide = isa == LinearKernelIsa::kAvx512 && linear_kernel_isa_available(LinearKernelIsa::kAvx512);
  for (int64_t h = h_begin; h < h_end; ++h) {
    const int64_t g = h / rep;
    const float* kh = k + g * head_stride;
    const float* vh = v + g * head_stride;
    for (int64_t j = 0; j < T; ++j)
      attend_row(q + (j * H + h) * D, kh, vh, out + (j * H + h) * D, total - T + j + 1, D, scale, s.data(),
                 zero.data(), wide);
  }
}

#else  // not x86, or built with -DMTPC_NO_LINEAR_KERNEL: torch's ops everywhere

bool attention_kernel_available() { return false; }

void attention_kernel(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                      int64_t, float, int64_t, int64_t) {
  std::abort();  // never called: attention_kernel_available() is false
}

void attention_kernel_with(LinearKernelIsa, const float*, const float*, const float*, float*, int64_t, int64_t,
                           int64_t, int64_t, int64_t, int64_t, float, int64_t, int64_t) {
  std::abort();  // never called: attention_kernel_available() is false
}

#endif

}  // namespace mtpc
