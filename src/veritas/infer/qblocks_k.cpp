// Matrix x vector products reading GGUF K-quant blocks (Q4_K, Q5_K, Q6_K) directly. A
// super-block holds 256 weights; the activations come as for the other types: blocks of 32
// int8 values x_q with one fp32 scale d_x and s_x = d_x * sum(x_q) (QuantActs). Each
// block of 32 activations meets:
//   Q4_K / Q5_K: one sub-block of 32 with 6-bit scale sc and min m (super-block d, dmin):
//                d * sc * d_x * sum(n * x_q)  -  dmin * m * s_x     (n: 4 or 5-bit value)
//   Q6_K:        two sub-blocks of 16 with int8 scales sc_a, sc_b (super-block d):
//                d * d_x * (sc_a * sum_a((n - 32) * x_q) + sc_b * sum_b((n - 32) * x_q))
// The integer sums are exact in every instruction set (largest pair sum 2 * 63 * 127 for
// maddubs), and AVX2 and AVX-512 VNNI accumulate in the same order (8 fp32 lanes, then
// hsum8), so they give bit-identical results; the scalar fallback differs by fp32 rounding.
#include "veritas/infer/qblocks_k.hpp"

#include <cstring>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define VERITAS_QK_AVX2 1
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define VERITAS_QK_VNNI 1
#endif
#endif

#include "veritas/model/quant.hpp"
#include "veritas/infer/simd.hpp"

namespace veritas::infer::kq {

namespace {

inline float h2f(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// Q4_K/Q5_K's 12 scale bytes -> 8 six-bit scales and 8 six-bit mins.
inline void scale_min_k4(const uint8_t* q, uint8_t* sc, uint8_t* m) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = q[j] & 63;
    m[j] = q[j + 4] & 63;
    sc[j + 4] = (q[j + 8] & 0xF) | ((q[j] >> 6) << 4);
    m[j + 4] = (q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4);
  }
}

// Scalar fallback: one row, one token. Not auto-vectorized: GCC 12 at -O3 with AVX-512
// VNNI turned a signed x signed byte loop into a wrong vpdpbusd (unsigned x signed) dot
// product (caught by tests/infer/gguf_test.cpp).
template <Precision P>
__attribute__((optimize("no-tree-vectorize"))) float dot_scalar(const uint8_t* w, const int8_t* xq, const float* xs,
                                                                 const float* xsum, int sblocks) {
  float acc = 0, mterm = 0;
  constexpr int bytes = P == Precision::Q4_K ? 144 : P == Precision::Q5_K ? 176 : 210;
  for (int s = 0; s < sblocks; ++s, w += bytes) {
    const int8_t* x = xq + s * 256;
    const float* d_x = xs + s * 8;
    if constexpr (P == Precision::Q6_K) {
      const uint8_t *ql = w, *qh = w + 128;
      const int8_t* sc = reinterpret_cast<const int8_t*>(w + 192);
      const float d = h2f(w + 208);
      for (int j = 0; j < 8; ++j) {
        const int h = j / 4, k = j % 4;
        int32_t part[2] = {0, 0};
        for (int l = 0; l < 32; ++l) {
          const uint8_t lo = ql[64 * h + 32 * (k & 1) + l], hb = qh[32 * h + l];
          const int n = ((k < 2 ? lo & 0xF : lo >> 4) | (((hb >> (2 * k)) & 3) << 4)) - 32;
          part[l / 16] += n * x[32 * j + l];
        }
        acc += (float)(sc[2 * j] * part[0] + sc[2 * j + 1] * part[1]) * (d * d_x[j]);
      }
    } else {
      uint8_t sc[8], m[8];
      scale_min_k4(w + 4, sc, m);
      const float d = h2f(w), dmin = h2f(w + 2);
      const uint8_t* qh = w + 16;
      const uint8_t* qs = w + (P == Precision::Q5_K ? 48 : 16);
      for (int j = 0; j < 8; ++j) {
        int32_t sum = 0;
        for (int l = 0; l < 32; ++l) {
          const uint8_t b = qs[32 * (j / 2) + l];
          int n = j & 1 ? b >> 4 : b & 0xF;
          if constexpr (P == Precision::Q5_K) n |= ((qh[l] >> j) & 1) << 4;
          sum += n * x[32 * j + l];
        }
        acc += (float)(sum * sc[j]) * (d * d_x[j]);
        mterm += dmin * m[j] * xsum[s * 8 + j];
      }
    }
  }
  return acc - mterm;
}

#ifdef VERITAS_QK_AVX2
using simd::h2f_fast;
using simd::hsum8;

inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Bits [k, k+bits) of every byte, moved to bit `to`.
inline __m256i bits_of(__m256i v, int k, int mask, int to) {
  __m256i b = _mm256_and_si256(_mm256_srli_epi16(v, k), _mm256_set1_epi8((char)mask));
  return to ? _mm256_slli_epi16(b, to) : b;
}

// u8 a[i] * s8 b[i] summed in 8 int32 lanes of 4 products (lanes 0-3: bytes 0-15).
template <bool Vnni>
inline __m256i dot_u8s8(__m256i a, __m256i b) {
#ifdef VERITAS_QK_VNNI
  if constexpr (Vnni) return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
#endif
  return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

// One row against NT tokens (out[t * ldy]; token t's activations at xq + t * tq, its
// scales at xs + t * ts): each super-block's weights are unpacked once for all NT tokens
// (prompt processing and scoring reuse them), and every token's arithmetic is the same
// whatever NT, in the same order, so a result does not depend on the number of tokens.
template <bool Vnni, Precision P, int NT>
void dot_simd(const uint8_t* w, const int8_t* xq, size_t tq, const float* xs, const float* xsum, size_t ts,
              int sblocks, float* out, int ldy) {
  __m256 acc[NT];
  float mterm[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps(), mterm[t] = 0;
  constexpr int bytes = P == Precision::Q4_K ? 144 : P == Precision::Q5_K ? 176 : 210;
  for (int s = 0; s < sblocks; ++s, w += bytes) {
    if constexpr (P == Precision::Q6_K) {
      const int8_t* sc = reinterpret_cast<const int8_t*>(w + 192);
      const float d = h2f_fast(w + 208);
      for (int h = 0; h < 2; ++h) {
        const __m256i ql0 = load32(w + 64 * h), ql1 = load32(w + 64 * h + 32), qh = load32(w + 128 + 32 * h);
        const __m256i q[4] = {_mm256_or_si256(bits_of(ql0, 0, 0xF, 0), bits_of(qh, 0, 3, 4)),
                              _mm256_or_si256(bits_of(ql1, 0, 0xF, 0), bits_of(qh, 2, 3, 4)),
                              _mm256_or_si256(bits_of(ql0, 4, 0xF, 0), bits_of(qh, 4, 3, 4)),
                              _mm256_or_si256(bits_of(ql1, 4, 0xF, 0), bits_of(qh, 6, 3, 4))};
        for (int k = 0; k < 4; ++k) {
          const int j = 4 * h + k;
          const __m256i wv = _mm256_sub_epi8(q[k], _mm256_set1_epi8(32));  // -32..31
          const __m256i aw = _mm256_sign_epi8(wv, wv);
          const __m256i scv = _mm256_setr_epi32(sc[2 * j], sc[2 * j], sc[2 * j], sc[2 * j], sc[2 * j + 1],
                                                sc[2 * j + 1], sc[2 * j + 1], sc[2 * j + 1]);
          for (int t = 0; t < NT; ++t) {
            const __m256i xv = load32(reinterpret_cast<const uint8_t*>(xq + t * tq + s * 256 + 32 * j));
            const __m256i s32 = _mm256_mullo_epi32(dot_u8s8<Vnni>(aw, _mm256_sign_epi8(xv, wv)), scv);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_set1_ps(d * xs[t * ts + s * 8 + j]), acc[t]);
          }
        }
      }
    } else {
      uint8_t sc[8], m[8];
      scale_min_k4(w + 4, sc, m);
      const float d = h2f_fast(w), dmin = h2f_fast(w + 2);
      const uint8_t* qs = w + (P == Precision::Q5_K ? 48 : 16);
      __m256i qh;
      if constexpr (P == Precision::Q5_K) qh = load32(w + 16);
      for (int c = 0; c < 4; ++c) {
        const __m256i raw = load32(qs + 32 * c);
        __m256i n[2] = {bits_of(raw, 0, 0xF, 0), bits_of(raw, 4, 0xF, 0)};
        if constexpr (P == Precision::Q5_K) {
          n[0] = _mm256_or_si256(n[0], bits_of(qh, 2 * c, 1, 4));
          n[1] = _mm256_or_si256(n[1], bits_of(qh, 2 * c + 1, 1, 4));
        }
        for (int h = 0; h < 2; ++h) {
          const int j = 2 * c + h;
          for (int t = 0; t < NT; ++t) {
            const __m256i xv = load32(reinterpret_cast<const uint8_t*>(xq + t * tq + s * 256 + 32 * j));
            const __m256i s32 = dot_u8s8<Vnni>(n[h], xv);
            const size_t bi = t * ts + s * 8 + j;
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_set1_ps(d * (float)sc[j] * xs[bi]), acc[t]);
            mterm[t] += dmin * m[j] * xsum[bi];
          }
        }
      }
    }
  }
  for (int t = 0; t < NT; ++t) out[(size_t)t * ldy] = hsum8(acc[t]) - mterm[t];
}
#endif

using TileFn = void (*)(const uint8_t*, const int8_t*, size_t, const float*, const float*, size_t, int, float*, int);

// Tokens per call: 4 on AVX-512 VNNI (32 vector registers), 2 on AVX2 (16).
template <Precision P>
void pick(Isa isa, TileFn* one, TileFn* tile, int* nt) {
#ifdef VERITAS_QK_AVX2
#ifdef VERITAS_QK_VNNI
  if (isa == kVnni) {
    *one = dot_simd<true, P, 1>, *tile = dot_simd<true, P, 4>, *nt = 4;
    return;
  }
#endif
  if (isa == kAvx2 || isa == kVnni) {
    *one = dot_simd<false, P, 1>, *tile = dot_simd<false, P, 2>, *nt = 2;
    return;
  }
#endif
  (void)isa;
  *one = *tile = nullptr, *nt = 1;
}

}  // namespace

void matmul(Precision p, Isa isa, const uint8_t* w, size_t row_bytes, int row0, const QuantActs* qa, int T, float* y,
            int ldy, int r0, int r1) {
  TileFn one, tile;
  int nt;
  if (p == Precision::Q4_K) pick<Precision::Q4_K>(isa, &one, &tile, &nt);
  else if (p == Precision::Q5_K) pick<Precision::Q5_K>(isa, &one, &tile, &nt);
  else pick<Precision::Q6_K>(isa, &one, &tile, &nt);
  const int blocks = qa->blocks, sblocks = blocks / 8;
  const size_t tq = (size_t)blocks * kQBlock, ts = (size_t)blocks;
  for (int r = r0; r < r1; ++r) {
    const uint8_t* wr = w + (size_t)(r - row0) * row_bytes;
    int t = 0;
    if (tile)
      for (; t + nt <= T; t += nt)
        tile(wr, qa->q.data() + t * tq, tq, qa->scale.data() + t * ts, qa->bsum.data() + t * ts, ts, sblocks,
             y + (size_t)t * ldy + r, ldy);
    for (; t < T; ++t) {
      const int8_t* xq = qa->q.data() + t * tq;
      const float *xs = qa->scale.data() + t * ts, *xsum = qa->bsum.data() + t * ts;
      float* yt = y + (size_t)t * ldy + r;
      if (one) one(wr, xq, tq, xs, xsum, ts, sblocks, yt, ldy);
      else *yt = p == Precision::Q4_K   ? dot_scalar<Precision::Q4_K>(wr, xq, xs, xsum, sblocks)
                 : p == Precision::Q5_K ? dot_scalar<Precision::Q5_K>(wr, xq, xs, xsum, sblocks)
                                        : dot_scalar<Precision::Q6_K>(wr, xq, xs, xsum, sblocks);
    }
  }
}

}  // namespace veritas::infer::kq
