#include "veritas/kernels/vexp.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "veritas/util/cpu_features.hpp"

namespace veritas::kernels {

// exp(x) = 2^n · e^r with n = round(x · log2 e) and r = x − n · ln 2 in [−ln2/2, ln2/2]
// (ln 2 split in two so that n · ln2_hi is exact); e^r by Cephes' degree-7 polynomial
// (cephes/single/expf.c: relative error 2.3e-7 peak); then the exponent is added. x is
// first clamped to [−104, 89], beyond which the float result is 0 or inf anyway, so that
// −inf and +inf need no special case (the clamp keeps NaN: max/min return their second
// operand when one is NaN).
namespace {
constexpr float kLo = -104.0f, kHi = 89.0f;
constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

#define VERITAS_AVX512 __attribute__((target("avx512f")))
#define VERITAS_AVX2 __attribute__((target("avx2,fma")))

VERITAS_AVX512 inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(kHi), _mm512_max_ps(_mm512_set1_ps(kLo), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(kP0), r, _mm512_set1_ps(kP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);  // p · 2^n, one rounding, denormals and overflow included
}

// 2^k for integer lanes k in [−126, 127].
VERITAS_AVX2 inline __m256 pow2_8(__m256i k) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

VERITAS_AVX2 inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(kHi), _mm256_max_ps(_mm256_set1_ps(kLo), x));
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(kP0), r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // n is in [−150, 129]: 2^n as 2^(n/2) · 2^(n − n/2), each a normal float, so that
  // results below FLT_MIN come out denormal (rounded once, by the second product).
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  return _mm256_mul_ps(_mm256_mul_ps(p, pow2_8(n1)), pow2_8(_mm256_sub_epi32(ni, n1)));
}

VERITAS_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

VERITAS_AVX2 inline float hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- AVX-512: tails by masked loads and stores.

inline __mmask16 tail_mask(int64_t rem) { return (__mmask16)((1u << rem) - 1); }

VERITAS_AVX512 float exp_shift_sum_avx512(float* dst, const float* src, int64_t n, float shift) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(src + i), s));
    if (dst) _mm512_storeu_ps(dst + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, src + i), s)));
    if (dst) _mm512_mask_storeu_ps(dst + i, m, e);
    acc = _mm512_add_ps(acc, e);
  }
  return _mm512_reduce_add_ps(acc);
}

VERITAS_AVX512 void sigmoid_avx512(float* dst, const float* src, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
    const __m512 x = _mm512_maskz_loadu_ps(m, src + i);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
    _mm512_mask_storeu_ps(dst + i, m, _mm512_div_ps(one, _mm512_add_ps(one, e)));
  }
}

VERITAS_AVX512 float max_of_avx512(const float* src, int64_t n) {
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 acc = ninf;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
    acc = _mm512_max_ps(acc, _mm512_mask_loadu_ps(ninf, m, src + i));
  }
  return _mm512_reduce_max_ps(acc);
}

// ---- AVX2: tails through a padded copy of the last (< 8) values.

VERITAS_AVX2 float exp_shift_sum_avx2(float* dst, const float* src, int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(src + i), s));
    if (dst) _mm256_storeu_ps(dst + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = hsum8(acc);
  if (i < n) {
    alignas(32) float tmp[8] = {};
    std::copy(src + i, src + n, tmp);
    _mm256_store_ps(tmp, exp8(_mm256_sub_ps(_mm256_load_ps(tmp), s)));
    for (int64_t j = 0; j < n - i; ++j) sum += tmp[j];
    if (dst) std::copy(tmp, tmp + (n - i), dst + i);
  }
  return sum;
}

VERITAS_AVX2 inline __m256 sig8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

VERITAS_AVX2 void sigmoid_avx2(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, sig8(_mm256_loadu_ps(src + i)));
  if (i < n) {
    alignas(32) float tmp[8] = {};
    std::copy(src + i, src + n, tmp);
    _mm256_store_ps(tmp, sig8(_mm256_load_ps(tmp)));
    std::copy(tmp, tmp + (n - i), dst + i);
  }
}

VERITAS_AVX2 float max_of_avx2(const float* src, int64_t n) {
  __m256 acc = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_max_ps(acc, _mm256_loadu_ps(src + i));
  float mx = hmax8(acc);
  for (; i < n; ++i) mx = std::max(mx, src[i]);
  return mx;
}

// ---- scalar (libm)

float exp_shift_sum_scalar(float* dst, const float* src, int64_t n, float shift) {
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = std::exp(src[i] - shift);
    if (dst) dst[i] = e;
    sum += e;
  }
  return sum;
}

void sigmoid_scalar(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = 1.0f / (1.0f + std::exp(-src[i]));
}

float max_of_scalar(const float* src, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, src[i]);
  return mx;
}
}  // namespace

VecIsa best_vec_isa() {
  static const VecIsa isa = [] {
    const CpuFeatures& f = cpu_features();
    if (f.avx512f) return VecIsa::avx512;
    if (f.avx2 && f.fma) return VecIsa::avx2;
    return VecIsa::scalar;
  }();
  return isa;
}

const char* vec_isa_name(VecIsa isa) {
  switch (isa) {
    case VecIsa::avx512: return "avx512";
    case VecIsa::avx2: return "avx2";
    default: return "scalar";
  }
}

float exp_shift_sum(VecIsa isa, float* dst, const float* src, int64_t n, float shift) {
  switch (isa) {
    case VecIsa::avx512: return exp_shift_sum_avx512(dst, src, n, shift);
    case VecIsa::avx2: return exp_shift_sum_avx2(dst, src, n, shift);
    default: return exp_shift_sum_scalar(dst, src, n, shift);
  }
}

void sigmoid(VecIsa isa, float* dst, const float* src, int64_t n) {
  switch (isa) {
    case VecIsa::avx512: return sigmoid_avx512(dst, src, n);
    case VecIsa::avx2: return sigmoid_avx2(dst, src, n);
    default: return sigmoid_scalar(dst, src, n);
  }
}

float max_of(VecIsa isa, const float* src, int64_t n) {
  switch (isa) {
    case VecIsa::avx512: return max_of_avx512(src, n);
    case VecIsa::avx2: return max_of_avx2(src, n);
    default: return max_of_scalar(src, n);
  }
}

float exp_shift_sum(float* dst, const float* src, int64_t n, float shift) {
  return exp_shift_sum(best_vec_isa(), dst, src, n, shift);
}
void sigmoid(float* dst, const float* src, int64_t n) { sigmoid(best_vec_isa(), dst, src, n); }
float max_of(const float* src, int64_t n) { return max_of(best_vec_isa(), src, n); }

}  // namespace veritas::kernels
