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

// q . k over D: 8-lane products in order, one horizontal sum, the D % 8
// tail with scalar fma.
MTPC_AVX2 inline float dot(const float* a, const float* b, int64_t D) {
  const int64_t D8 = D / 8 * 8;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t d = 0; d < D8; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), _mm256_loadu_ps(b + d), acc);
  float r = hsum(acc);
  for (int64_t d = D8; d < D; ++d) r = std::fma(a[d], b[d], r);
  return r;
}

// One query row of one head against keys 0..n-1. `s` has room for n
// rounded up to 8.
MTPC_AVX2 void attend_row(const float* q, const float* k, const float* v, float* out, int64_t n, int64_t D,
                          float scale, float* s) {
  float m = -INFINITY;
  for (int64_t p = 0; p < n; ++p) {
    s[p] = dot(q, k + p * D, D) * scale;
    m = std::max(m, s[p]);
  }
  // Padding lanes of the last group of 8 give 0 (exp of -inf).
  const int64_t n8 = (n + 7) / 8 * 8;
  for (int64_t p = n; p < n8; ++p) s[p] = -INFINITY;
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t p = 0; p < n8; p += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p), mv));
    _mm256_storeu_ps(s + p, e);
    sum = _mm256_add_ps(sum, e);
  }
  const float inv = 1.0f / hsum(sum);
  // out = sum_p e_p v_p / sum, D in groups of 8 (up to 4 at once), keys in order.
  const int64_t D8 = D / 8 * 8;
  for (int64_t d0 = 0; d0 < D8; d0 += 32) {
    const int64_t groups = std::min<int64_t>(4, (D8 - d0) / 8);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t p = 0; p < n; ++p) {
      const __m256 e = _mm256_set1_ps(s[p]);
      const float* row = v + p * D + d0;
      for (int64_t g = 0; g < groups; ++g) acc[g] = _mm256_fmadd_ps(e, _mm256_loadu_ps(row + 8 * g), acc[g]);
    }
    const __m256 iv = _mm256_set1_ps(inv);
    for (int64_t g = 0; g < groups; ++g) _mm256_storeu_ps(out + d0 + 8 * g, _mm256_mul_ps(acc[g], iv));
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
  const int64_t rep = H / KV;
  std::vector<float> s((total + 7) / 8 * 8);
  for (int64_t h = h_begin; h < h_end; ++h) {
    const int64_t g = h / rep;
    const float* kh = k + g * head_stride;
    const float* vh = v + g * head_stride;
    for (int64_t j = 0; j < T; ++j)
      attend_row(q + (j * H + h) * D, kh, vh, out + (j * H + h) * D, total - T + j + 1, D, scale, s.data());
  }
}

#else  // not x86, or built with -DMTPC_NO_LINEAR_KERNEL: torch's ops everywhere

bool attention_kernel_available() { return false; }

void attention_kernel(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                      int64_t, float, int64_t, int64_t) {
  std::abort();  // never called: attention_kernel_available() is false
}

#endif

}  // namespace mtpc
