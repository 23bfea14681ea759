// Matrix x vector products on F16 weights kept as a GGUF file stores them (IEEE halves,
// half the bytes of fp32): each weight is widened exactly to fp32 (F16C) and
// multiply-added against fp32 activations.
//
// One arithmetic for every instruction set, so AVX-512, AVX2 and the scalar fallback give
// bit-identical results: per (row, token), 16 fp32 lanes; lane j accumulates columns
// 16k + j in order of k, one rounding per fused multiply-add; then lanes j and j + 8 are
// added, the 8 sums reduced in a fixed tree (hsum8), and the columns past the last
// multiple of 16 added one by one. AVX2 keeps the 16 lanes as two 8-lane vectors.
//
// Several rows and several tokens per call: each widened weight vector is multiplied into
// NT tokens (prompt processing) and each activation vector into R rows, without changing
// any (row, token)'s arithmetic, so a result never depends on T or on the row grouping.
#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define VERITAS_F16_AVX2 1
#if defined(__AVX512F__)
#define VERITAS_F16_AVX512 1
#endif
#endif

#include "veritas/infer/qblocks_k.hpp"
#include "veritas/infer/simd.hpp"
#include "veritas/model/quant.hpp"

namespace veritas::infer::kq {

namespace {

inline float half_at(const uint8_t* row, int c) {
  uint16_t h;
  std::memcpy(&h, row + 2 * (size_t)c, 2);  // rows need not be 2-byte aligned (stacked parts)
  return f16_to_f32(h);
}

// The columns past the last multiple of 16, added in order to the lanes' sum s.
inline float tail(const uint8_t* w, const float* x, int c, int n, float s) {
  for (; c < n; ++c) s = std::fma(half_at(w, c), x[c], s);
  return s;
}

// Plain C++ of the same arithmetic, one (row, token) at a time.
float dot_scalar(const uint8_t* w, const float* x, int n) {
  const int full = n / 16 * 16;
  float lanes[16] = {};
  for (int c = 0; c < full; c += 16)
    for (int j = 0; j < 16; ++j) lanes[j] = std::fma(half_at(w, c + j), x[c + j], lanes[j]);
  float u[8];
  for (int j = 0; j < 8; ++j) u[j] = lanes[j] + lanes[j + 8];
  const float s0 = u[0] + u[4], s1 = u[1] + u[5], s2 = u[2] + u[6], s3 = u[3] + u[7];
  return tail(w, x, full, n, (s0 + s2) + (s1 + s3));
}

#ifdef VERITAS_F16_AVX2
using simd::hsum8;

inline __m256 wide8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// One row (decoding) streams ahead into L2 (simd::prefetch_stream); several rows take the
// weights two row groups ahead into L1.
template <int R>
inline void prefetch_rows(const uint8_t* w, size_t row_bytes, int c) {
  if constexpr (R == 1)
    simd::prefetch_stream(w + 2 * (size_t)c);
  else
    for (int r = 0; r < R; ++r)
      _mm_prefetch(reinterpret_cast<const char*>(w + (r + 2 * R) * row_bytes + 2 * (size_t)c), _MM_HINT_T0);
}

// R rows x NT tokens; out[t * ldy + r].
template <int R, int NT>
void dot_avx2(const uint8_t* w, size_t row_bytes, const float* x, int ldx, int n, float* out, int ldy) {
  __m256 lo[R][NT], hi[R][NT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NT; ++t) lo[r][t] = hi[r][t] = _mm256_setzero_ps();
  auto step = [&](int c) {
    __m256 xl[NT], xh[NT];
    for (int t = 0; t < NT; ++t) {
      xl[t] = _mm256_loadu_ps(x + (size_t)t * ldx + c);
      xh[t] = _mm256_loadu_ps(x + (size_t)t * ldx + c + 8);
    }
    for (int r = 0; r < R; ++r) {
      const __m256 wl = wide8(w + r * row_bytes + 2 * (size_t)c), wh = wide8(w + r * row_bytes + 2 * (size_t)c + 16);
      for (int t = 0; t < NT; ++t) {
        lo[r][t] = _mm256_fmadd_ps(wl, xl[t], lo[r][t]);
        hi[r][t] = _mm256_fmadd_ps(wh, xh[t], hi[r][t]);
      }
    }
  };
  int c = 0;
  for (; c + 32 <= n; c += 32) {  // one 64-byte line of each row
    prefetch_rows<R>(w, row_bytes, c);
    step(c);
    step(c + 16);
  }
  if (c + 16 <= n) step(c), c += 16;
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NT; ++t)
      out[(size_t)t * ldy + r] =
          tail(w + r * row_bytes, x + (size_t)t * ldx, c, n, hsum8(_mm256_add_ps(lo[r][t], hi[r][t])));
}
#endif

#ifdef VERITAS_F16_AVX512
template <int R, int NT>
void dot_avx512(const uint8_t* w, size_t row_bytes, const float* x, int ldx, int n, float* out, int ldy) {
  __m512 acc[R][NT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  auto step = [&](int c) {
    __m512 xv[NT];
    for (int t = 0; t < NT; ++t) {
      xv[t] = _mm512_loadu_ps(x + (size_t)t * ldx + c);
      // Keep the activations in registers: folded into each FMA as a memory operand
      // (GCC's choice), they were loaded R times.
      if constexpr (R > 1) asm("" : "+v"(xv[t]));
    }
    for (int r = 0; r < R; ++r) {
      // The zero-masked forms: GCC 12's plain ones warn about their undefined pass-through.
      const __m512 wv = _mm512_maskz_cvtph_ps(
          0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + r * row_bytes + 2 * (size_t)c)));
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  };
  int c = 0;
  for (; c + 32 <= n; c += 32) {
    prefetch_rows<R>(w, row_bytes, c);
    step(c);
    step(c + 16);
  }
  if (c + 16 <= n) step(c), c += 16;
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NT; ++t) {
      const __m512 a = acc[r][t];
      const __m256 lo = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xFF, _mm512_castps_pd(a), 0));
      const __m256 hi = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xFF, _mm512_castps_pd(a), 1));
      out[(size_t)t * ldy + r] = tail(w + r * row_bytes, x + (size_t)t * ldx, c, n, hsum8(_mm256_add_ps(lo, hi)));
    }
}
#endif

using DotFn = void (*)(const uint8_t*, size_t, const float*, int, int, float*, int);
constexpr int NTMAX = 4;

}  // namespace

void matmul_f16(Isa isa, const uint8_t* w, size_t row_bytes, int row0, int cols, const float* x, int ldx, int T,
                float* y, int ldy, int r0, int r1) {
  constexpr int R = 4;  // rows per call
  // tiles[n]: R rows x n tokens per call, n up to nt (prompts; a prompt's last tokens take
  // the narrower tiles); one_one: a single (row, token) (decoding; rows left over).
  DotFn tiles[NTMAX + 1] = {}, one_one = nullptr;
  int nt = 0;
#ifdef VERITAS_F16_AVX512
  // 4 x 4 accumulators + 4 activation vectors + 1 weight vector of the 32 zmm registers
  // (4 x 6 was no faster).
  if (isa == kVnni) {
    tiles[1] = dot_avx512<R, 1>, tiles[2] = dot_avx512<R, 2>, tiles[3] = dot_avx512<R, 3>, tiles[4] = dot_avx512<R, 4>;
    one_one = dot_avx512<1, 1>, nt = 4;
  }
#endif
#ifdef VERITAS_F16_AVX2
  // 16 ymm registers: 2 x 4 accumulators per token, so 2 tokens per call.
  if (!one_one && isa != kScalar) tiles[1] = dot_avx2<R, 1>, tiles[2] = dot_avx2<R, 2>, one_one = dot_avx2<1, 1>, nt = 2;
#endif
  for (int r = r0; r < r1;) {
    const uint8_t* wr = w + (size_t)(r - row0) * row_bytes;
    if (!one_one) {
      for (int t = 0; t < T; ++t) y[(size_t)t * ldy + r] = dot_scalar(wr, x + (size_t)t * ldx, cols);
      ++r;
      continue;
    }
    if (r1 - r >= R && T > 1) {
      for (int t = 0; t < T;) {
        const int n = std::min(nt, T - t);
        tiles[n](wr, row_bytes, x + (size_t)t * ldx, ldx, cols, y + (size_t)t * ldy + r, ldy);
        t += n;
      }
      r += R;
      continue;
    }
    for (int t = 0; t < T; ++t) one_one(wr, row_bytes, x + (size_t)t * ldx, ldx, cols, y + (size_t)t * ldy + r, ldy);
    ++r;
  }
}

}  // namespace veritas::infer::kq
