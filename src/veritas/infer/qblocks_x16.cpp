// Q4_1 and Q8_0 weights stored as groups of 16 interleaved rows, for decoding at the
// memory's speed.
//
// Read row after row (qblocks.cpp), a Q4_1 block of 32 weights cost about 20 instructions
// per token, most of them for its fp16 scales and the horizontal sum: one core decoded at
// 14 GB/s, about half of what it streams. Here block b of 16 consecutive rows is one unit:
//   Q4_1 (320 bytes): d[16] (fp16), m[16] (fp16), then 4 x 64 bytes P_0..P_3 where bytes
//     4r..4r+3 of P_k are row r's quant bytes 4k..4k+3 (a GGUF Q4_1 byte j holds weight j
//     in its low nibble and weight j + 16 in its high one);
//   Q8_0 (544 bytes): d[16] (fp16), then 8 x 64 bytes C_0..C_7 where bytes 4r..4r+3 of C_k
//     are row r's weights 4k..4k+3.
// So 64 bytes hold 4 consecutive weights of each of the 16 rows, one row per 32-bit lane,
// and one multiply-add of bytes against the 4 activations they meet, broadcast to every
// lane, sums 4 products for each row. The scales of 16 rows convert in one instruction and
// no horizontal sum is left.
//
// Each lane is one row, so every instruction set computes the same thing in the same
// order: per block, the exact integer sum s = sum(n * x_q), then
//   acc = fma(float(s), d * d_x, acc)            (and for Q4_1: acc = fma(m, s_x, acc))
// block after block (d_x: the activations' block scale, s_x = d_x * sum(x_q)). AVX-512
// VNNI (16 rows a register), AVX2 (8) and the scalar fallback give bit-identical results,
// whatever the number of tokens or the rows asked for. Rows past the matrix's end are zero
// padding of the last group.
#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define VERITAS_X16_AVX2 1
#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
#define VERITAS_X16_VNNI 1
#endif
#endif

#include "veritas/infer/qblocks_k.hpp"
#include "veritas/infer/simd.hpp"
#include "veritas/model/quant.hpp"

namespace veritas::infer::kq {

namespace {

// Bytes of one block of 32 weights in one row (GGUF) and of one unit of 16 rows.
template <Precision P>
constexpr int kBlock = P == Precision::Q8_0 ? 34 : 20;
template <Precision P>
constexpr int kUnit = kGroup * kBlock<P>;
// Where a unit's quant bytes start (after the scales), and how many 64-byte chunks they are.
template <Precision P>
constexpr int kQuants = P == Precision::Q8_0 ? 32 : 64;
template <Precision P>
constexpr int kChunks = P == Precision::Q8_0 ? 8 : 4;

inline float h2f(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// out[r] for the 16 rows of one group, one token. Scalar fallback, not auto-vectorized
// (GCC 12 turned such byte loops into a wrong vpdpbusd: see qblocks.cpp).
template <Precision P>
__attribute__((optimize("no-tree-vectorize"))) void group_scalar(const uint8_t* g, int blocks, const int8_t* xq,
                                                                 const float* xs, const float* xsum, float* out) {
  for (int r = 0; r < kGroup; ++r) {
    float acc = 0;
    for (int b = 0; b < blocks; ++b) {
      const uint8_t* u = g + (size_t)b * kUnit<P>;
      const uint8_t* q = u + kQuants<P> + 4 * r;
      const int8_t* x = xq + b * 32;
      int32_t s = 0;
      for (int k = 0; k < kChunks<P>; ++k)
        for (int i = 0; i < 4; ++i) {
          if constexpr (P == Precision::Q8_0)
            s += (int8_t)q[64 * k + i] * x[4 * k + i];
          else
            s += (q[64 * k + i] & 0xF) * x[4 * k + i] + (q[64 * k + i] >> 4) * x[16 + 4 * k + i];
        }
      acc = std::fma((float)s, h2f(u + 2 * r) * xs[b], acc);
      if constexpr (P == Precision::Q4_1) acc = std::fma(h2f(u + 32 + 2 * r), xsum[b], acc);
    }
    out[r] = acc;
  }
}

#ifdef VERITAS_X16_AVX2
// Rows 8h..8h+7 of a group (h = 0, 1), NT tokens: AVX2, 8 rows a register. Products of
// bytes through maddubs (unsigned x signed, pairs summed in 16 bits): Q4_1 as n * x
// (|n| <= 15), Q8_0 as |w| * (x * sign w) (at most 2 * 128 * 127): no saturation.
template <Precision P, int NT>
void group_avx2(const uint8_t* g, int blocks, const int8_t* xq, size_t tq, const float* xs, const float* xsum,
                size_t ts, float* out, int ldo) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  auto dot = [&](__m256i s, __m256i u8, __m256i s8) {
    return _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8), ones));
  };
  for (int h = 0; h < 2; ++h) {
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; ++b) {
      const uint8_t* u = g + (size_t)b * kUnit<P>;
      simd::prefetch_stream(u);
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u + 16 * h)));
      __m256i s[NT];
      for (int t = 0; t < NT; ++t) s[t] = _mm256_setzero_si256();
      for (int k = 0; k < kChunks<P>; ++k) {
        const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u + kQuants<P> + 64 * k + 32 * h));
        for (int t = 0; t < NT; ++t) {
          const int8_t* x = xq + t * tq + b * 32;
          const __m256i xl = _mm256_set1_epi32(load_i32(x + 4 * k));
          if constexpr (P == Precision::Q8_0) {
            s[t] = dot(s[t], _mm256_sign_epi8(c, c), _mm256_sign_epi8(xl, c));
          } else {
            s[t] = dot(s[t], _mm256_and_si256(c, m4), xl);
            s[t] = dot(s[t], _mm256_and_si256(_mm256_srli_epi16(c, 4), m4), _mm256_set1_epi32(load_i32(x + 16 + 4 * k)));
          }
        }
      }
      for (int t = 0; t < NT; ++t)
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_mul_ps(dw, _mm256_set1_ps(xs[t * ts + b])), acc[t]);
      if constexpr (P == Precision::Q4_1) {
        const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u + 32 + 16 * h)));
        for (int t = 0; t < NT; ++t) acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(xsum[t * ts + b]), acc[t]);
      }
    }
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(out + (size_t)t * ldo + 8 * h, acc[t]);
  }
}
#endif

#ifdef VERITAS_X16_VNNI
// GCC 12's own _mm512_cvtph_ps / _mm512_cvtepi32_ps start from _mm512_undefined_ps(),
// which it then warns about.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// All 16 rows of a group, NT tokens: AVX-512 VNNI, 16 rows a register. vpdpbusd
// multiplies unsigned by signed bytes: Q4_1's nibbles are the unsigned side; for Q8_0 the
// activations are, as x + 128, and 128 * sum(w) (one more vpdpbusd a chunk, shared by the
// tokens) is taken off again. Exact either way.
template <Precision P, int NT>
void group_vnni(const uint8_t* g, int blocks, const int8_t* xq, size_t tq, const float* xs, const float* xsum,
                size_t ts, float* out, int ldo) {
  const __m512i m4 = _mm512_set1_epi8(0x0F), k128 = _mm512_set1_epi8((char)0x80);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int b = 0; b < blocks; ++b) {
    const uint8_t* u = g + (size_t)b * kUnit<P>;
    simd::prefetch_stream(u);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(u)));
    // Two sums a token halve the chain of dependent multiply-adds.
    __m512i s0[NT], s1[NT], off = _mm512_setzero_si512();
    for (int t = 0; t < NT; ++t) s0[t] = s1[t] = _mm512_setzero_si512();
    for (int k = 0; k < kChunks<P>; ++k) {
      const __m512i c = _mm512_loadu_si512(u + kQuants<P> + 64 * k);
      if constexpr (P == Precision::Q8_0) {
        off = _mm512_dpbusd_epi32(off, k128, c);
        for (int t = 0; t < NT; ++t) {
          const int8_t* x = xq + t * tq + b * 32;
          __m512i& s = k % 2 ? s1[t] : s0[t];
          s = _mm512_dpbusd_epi32(s, _mm512_set1_epi32(load_i32(x + 4 * k) ^ (int32_t)0x80808080), c);
        }
      } else {
        const __m512i lo = _mm512_and_si512(c, m4), hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), m4);
        for (int t = 0; t < NT; ++t) {
          const int8_t* x = xq + t * tq + b * 32;
          s0[t] = _mm512_dpbusd_epi32(s0[t], lo, _mm512_set1_epi32(load_i32(x + 4 * k)));
          s1[t] = _mm512_dpbusd_epi32(s1[t], hi, _mm512_set1_epi32(load_i32(x + 16 + 4 * k)));
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      __m512i si = _mm512_add_epi32(s0[t], s1[t]);
      if constexpr (P == Precision::Q8_0) si = _mm512_sub_epi32(si, off);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(si), _mm512_mul_ps(dw, _mm512_set1_ps(xs[t * ts + b])), acc[t]);
    }
    if constexpr (P == Precision::Q4_1) {
      const __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(u + 32)));
      for (int t = 0; t < NT; ++t) acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(xsum[t * ts + b]), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + (size_t)t * ldo, acc[t]);
}
#pragma GCC diagnostic pop
#endif

using GroupFn = void (*)(const uint8_t*, int, const int8_t*, size_t, const float*, const float*, size_t, float*, int);
using ScalarFn = void (*)(const uint8_t*, int, const int8_t*, const float*, const float*, float*);

// Where row i's parts of one GGUF block of type p go in a unit: f(offset in the unit,
// offset in the block, bytes) for each.
template <class F>
void for_each_piece(Precision p, int i, F f) {
  f(2 * i, 0, 2);  // d
  if (p == Precision::Q8_0) {
    for (int k = 0; k < kChunks<Precision::Q8_0>; ++k) f(kQuants<Precision::Q8_0> + 64 * k + 4 * i, 2 + 4 * k, 4);
  } else {
    f(32 + 2 * i, 2, 2);  // m
    for (int k = 0; k < kChunks<Precision::Q4_1>; ++k) f(kQuants<Precision::Q4_1> + 64 * k + 4 * i, 4 + 4 * k, 4);
  }
}

}  // namespace

void interleave(Precision p, const uint8_t* rows_blocks, int rows, size_t row_bytes, uint8_t* out) {
  const size_t bb = p == Precision::Q8_0 ? kBlock<Precision::Q8_0> : kBlock<Precision::Q4_1>, blocks = row_bytes / bb;
  const int padded = (rows + kGroup - 1) / kGroup * kGroup;  // the last group's padding rows are zeros
  if (padded > rows) std::memset(out + (size_t)(padded - kGroup) * row_bytes, 0, (size_t)kGroup * row_bytes);
  for (int r = 0; r < rows; ++r)
    for (size_t b = 0; b < blocks; ++b) {
      uint8_t* u = out + (size_t)(r / kGroup) * kGroup * row_bytes + b * kGroup * bb;
      const uint8_t* block = rows_blocks + (size_t)r * row_bytes + b * bb;
      for_each_piece(p, r % kGroup, [&](size_t at_unit, size_t at_block, size_t n) { std::memcpy(u + at_unit, block + at_block, n); });
    }
}

void deinterleave_row(Precision p, const uint8_t* groups, size_t row_bytes, int r, uint8_t* out) {
  const size_t bb = p == Precision::Q8_0 ? kBlock<Precision::Q8_0> : kBlock<Precision::Q4_1>, blocks = row_bytes / bb;
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* u = groups + (size_t)(r / kGroup) * kGroup * row_bytes + b * kGroup * bb;
    uint8_t* block = out + b * bb;
    for_each_piece(p, r % kGroup, [&](size_t at_unit, size_t at_block, size_t n) { std::memcpy(block + at_block, u + at_unit, n); });
  }
}

void matmul_x16(Precision p, Isa isa, const uint8_t* w, size_t row_bytes, int row0, int rows, const QuantActs* qa,
                int T, float* y, int ldy, int r0, int r1) {
  const bool q8 = p == Precision::Q8_0;
  GroupFn one = nullptr, tile = nullptr;
  ScalarFn scalar = q8 ? group_scalar<Precision::Q8_0> : group_scalar<Precision::Q4_1>;
  int nt = 1;
#ifdef VERITAS_X16_VNNI
  if (isa == kVnni) {
    if (q8) one = group_vnni<Precision::Q8_0, 1>, tile = group_vnni<Precision::Q8_0, 4>;
    else one = group_vnni<Precision::Q4_1, 1>, tile = group_vnni<Precision::Q4_1, 4>;
    nt = 4;
  }
#endif
#ifdef VERITAS_X16_AVX2
  if (isa == kAvx2 || (isa == kVnni && !one)) {
    if (q8) one = group_avx2<Precision::Q8_0, 1>, tile = group_avx2<Precision::Q8_0, 2>;
    else one = group_avx2<Precision::Q4_1, 1>, tile = group_avx2<Precision::Q4_1, 2>;
    nt = 2;
  }
#endif
  const int blocks = qa->blocks;
  const size_t tq = (size_t)blocks * kQBlock, ts = (size_t)blocks, group_bytes = kGroup * row_bytes;
  float part[4 * kGroup];  // a group that is not wholly asked for (or padded) goes here first
  for (int g0 = (r0 - row0) / kGroup * kGroup; row0 + g0 < r1; g0 += kGroup) {
    const uint8_t* g = w + (size_t)(g0 / kGroup) * group_bytes;
    const int a = std::max(r0, row0 + g0), e = std::min({r1, row0 + g0 + kGroup, row0 + rows});
    const bool whole = a == row0 + g0 && e == row0 + g0 + kGroup;
    auto run = [&](GroupFn fn, int t, int n) {
      const int8_t* xq = qa->q.data() + t * tq;
      const float *xs = qa->scale.data() + t * ts, *xsum = qa->bsum.data() + t * ts;
      if (whole) return fn(g, blocks, xq, tq, xs, xsum, ts, y + (size_t)t * ldy + row0 + g0, ldy);
      fn(g, blocks, xq, tq, xs, xsum, ts, part, kGroup);
      for (int i = 0; i < n; ++i)
        std::copy(part + i * kGroup + (a - row0 - g0), part + i * kGroup + (e - row0 - g0), y + (size_t)(t + i) * ldy + a);
    };
    int t = 0;
    if (tile)
      for (; t + nt <= T; t += nt) run(tile, t, nt);
    for (; t < T; ++t) {
      if (one) {
        run(one, t, 1);
      } else {
        scalar(g, blocks, qa->q.data() + t * tq, qa->scale.data() + t * ts, qa->bsum.data() + t * ts, part);
        std::copy(part + (a - row0 - g0), part + (e - row0 - g0), y + (size_t)t * ldy + a);
      }
    }
  }
}

}  // namespace veritas::infer::kq
