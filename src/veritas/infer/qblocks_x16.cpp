// GGUF Q8_0, Q4_0, Q4_1 and Q5_0 weights stored as groups of 16 interleaved rows and
// multiplied against the quantized activations (QuantActs: blocks of 32 int8 values x_q
// with an fp32 scale d_x).
//
// Read row after row, a Q4_1 block of 32 weights cost about 20 instructions per token,
// most of them for its fp16 scales and the horizontal sum: one core decoded at 14 GB/s,
// about half of what it streams. Here block b of 16 consecutive rows is one unit:
//   scales: d[16] (fp16); Q4_1 then m[16] (fp16); Q5_0 then the fifth bits, 4 bytes a row
//     (byte k: bits 4k..4k+3 of the row's qh in its low nibble, bits 16+4k..16+4k+3 in its
//     high one);
//   quants, 64-byte chunks where bytes 4r..4r+3 are row r's:
//     Q8_0: 8 chunks, C_k = weights 4k..4k+3;
//     Q4_0, Q4_1, Q5_0: 4 chunks, P_k = quant bytes 4k..4k+3 (a GGUF byte j holds weight j
//       in its low nibble and weight j + 16 in its high one).
// So 64 bytes hold 4 consecutive weights of each of the 16 rows, one row per 32-bit lane,
// and one multiply-add of bytes against the 4 activations they meet, broadcast to every
// lane, sums 4 products for each row. The scales of 16 rows convert in one instruction and
// no horizontal sum is left. A unit has exactly the bytes of the 16 rows' blocks.
//
// Each lane is one row, so every instruction set computes the same thing in the same
// order: per block, the exact integer sum
//   s = sum(w * x_q)                           Q8_0
//   s = sum(n * x_q) - o * sum(x_q)            Q4_0 (o = 8), Q5_0 (o = 16), Q4_1 (o = 0)
// (n: the 4- or 5-bit value), then
//   acc = fma(float(s), d * d_x, acc)          (and for Q4_1: acc = fma(m, d_x * sum(x_q), acc))
// block after block. AVX-512 VNNI (16 rows a register), AVX2 (8) and the scalar fallback
// give bit-identical results, whatever the number of tokens or the rows asked for. Rows
// past the matrix's end are zero padding of the last group.
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

using P = Precision;

// Bytes of one block of 32 weights in one row (GGUF; block_bytes at run time) and of one
// unit of 16 rows.
template <P p>
constexpr int kBlock = p == P::Q8_0 ? 34 : p == P::Q4_1 ? 20 : p == P::Q5_0 ? 22 : 18;
template <P p>
constexpr int kUnit = kGroup * kBlock<p>;
// Where a unit's quant bytes start (after the scales), and how many 64-byte chunks they are.
template <P p>
constexpr int kQuants = p == P::Q8_0 || p == P::Q4_0 ? 32 : p == P::Q4_1 ? 64 : 96;
template <P p>
constexpr int kChunks = p == P::Q8_0 ? 8 : 4;
// What Q4_0 and Q5_0 take off their unsigned values.
template <P p>
constexpr int kOffset = p == P::Q4_0 ? 8 : p == P::Q5_0 ? 16 : 0;

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

// Q5_0's qh (bit j: the fifth bit of weight j) <-> the unit's 4 bytes of a row.
inline uint32_t qh_to_unit(uint32_t qh) {
  uint32_t v = 0;
  for (int k = 0; k < 4; ++k) v |= (((qh >> (4 * k)) & 0xF) | ((qh >> (16 + 4 * k)) & 0xF) << 4) << (8 * k);
  return v;
}
inline uint32_t qh_from_unit(uint32_t v) {
  uint32_t qh = 0;
  for (int k = 0; k < 4; ++k) qh |= ((v >> (8 * k)) & 0xF) << (4 * k) | ((v >> (8 * k + 4)) & 0xF) << (16 + 4 * k);
  return qh;
}

// Activations of token t: quants, scales, scale * sums, sums.
struct Acts {
  const int8_t* q;
  const float *xs, *xsum;
  const int32_t* qsum;
  size_t tq, ts;  // between tokens: bytes of quants, entries of the rest
};

// out[r] for the 16 rows of one group, one token. Scalar fallback, not auto-vectorized
// (GCC 12 turned such byte loops into a wrong vpdpbusd: see qblocks_k.cpp).
template <P p>
__attribute__((optimize("no-tree-vectorize"))) void group_scalar(const uint8_t* g, int blocks, const Acts& a,
                                                                 float* out) {
  for (int r = 0; r < kGroup; ++r) {
    float acc = 0;
    for (int b = 0; b < blocks; ++b) {
      const uint8_t* u = g + (size_t)b * kUnit<p>;
      const uint8_t* q = u + kQuants<p> + 4 * r;
      const int8_t* x = a.q + b * 32;
      int32_t s = 0;
      for (int k = 0; k < kChunks<p>; ++k) {
        const uint8_t high = p == P::Q5_0 ? u[32 + 4 * r + k] : 0;  // the fifth bits
        for (int i = 0; i < 4; ++i) {
          if constexpr (p == P::Q8_0) {
            s += (int8_t)q[64 * k + i] * x[4 * k + i];
          } else {
            const int lo = (q[64 * k + i] & 0xF) | ((high >> i) & 1) << 4;
            const int hi = (q[64 * k + i] >> 4) | ((high >> (4 + i)) & 1) << 4;
            s += lo * x[4 * k + i] + hi * x[16 + 4 * k + i];
          }
        }
      }
      s -= kOffset<p> * a.qsum[b];
      acc = std::fma((float)s, h2f(u + 2 * r) * a.xs[b], acc);
      if constexpr (p == P::Q4_1) acc = std::fma(h2f(u + 32 + 2 * r), a.xsum[b], acc);
    }
    out[r] = acc;
  }
}

#ifdef VERITAS_X16_AVX2
// Rows 8h..8h+7 of a group (h = 0, 1), NT tokens: AVX2, 8 rows a register. Products of
// bytes through maddubs (unsigned x signed, pairs summed in 16 bits): nibble types as n * x
// (n <= 31), Q8_0 as |w| * (x * sign w) (at most 2 * 128 * 127): no saturation.
template <P p, int NT>
void group_avx2(const uint8_t* g, int blocks, const Acts& a, float* out, int ldo) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1), k16 = _mm256_set1_epi8(0x10);
  // Q5_0: byte k of each row's 4 fifth-bit bytes copied to the row's 4 lanes' bytes, whose
  // byte i then tests bit i (the low nibbles' weights) or bit 4 + i (the high ones').
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12,  //
                                          0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12);
  const __m256i bit_lo = _mm256_set1_epi32(0x08040201), bit_hi = _mm256_set1_epi32((int)0x80402010);
  auto dot = [&](__m256i s, __m256i u8, __m256i s8) {
    return _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8), ones));
  };
  auto fifth = [&](__m256i v, __m256i bit) { return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit), k16); };
  for (int h = 0; h < 2; ++h) {
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; ++b) {
      const uint8_t* u = g + (size_t)b * kUnit<p>;
      simd::prefetch_stream(u);
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u + 16 * h)));
      __m256i s[NT];
      for (int t = 0; t < NT; ++t) s[t] = _mm256_setzero_si256();
      __m256i high = _mm256_setzero_si256();  // Q5_0's fifth bits of these 8 rows
      if constexpr (p == P::Q5_0) high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u + 32 + 32 * h));
      for (int k = 0; k < kChunks<p>; ++k) {
        const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u + kQuants<p> + 64 * k + 32 * h));
        if constexpr (p == P::Q8_0) {
          for (int t = 0; t < NT; ++t) {
            const __m256i xk = _mm256_set1_epi32(load_i32(a.q + t * a.tq + b * 32 + 4 * k));
            s[t] = dot(s[t], _mm256_sign_epi8(c, c), _mm256_sign_epi8(xk, c));
          }
        } else {
          __m256i lo = _mm256_and_si256(c, m4), hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), m4);
          if constexpr (p == P::Q5_0) {
            const __m256i v = _mm256_shuffle_epi8(high, _mm256_add_epi8(spread, _mm256_set1_epi8((char)k)));
            lo = _mm256_or_si256(lo, fifth(v, bit_lo));
            hi = _mm256_or_si256(hi, fifth(v, bit_hi));
          }
          for (int t = 0; t < NT; ++t) {
            const int8_t* x = a.q + t * a.tq + b * 32;
            s[t] = dot(s[t], lo, _mm256_set1_epi32(load_i32(x + 4 * k)));
            s[t] = dot(s[t], hi, _mm256_set1_epi32(load_i32(x + 16 + 4 * k)));
          }
        }
      }
      for (int t = 0; t < NT; ++t) {
        if constexpr (kOffset<p> != 0) s[t] = _mm256_sub_epi32(s[t], _mm256_set1_epi32(kOffset<p> * a.qsum[t * a.ts + b]));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_mul_ps(dw, _mm256_set1_ps(a.xs[t * a.ts + b])), acc[t]);
      }
      if constexpr (p == P::Q4_1) {
        const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u + 32 + 16 * h)));
        for (int t = 0; t < NT; ++t) acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(a.xsum[t * a.ts + b]), acc[t]);
      }
    }
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(out + (size_t)t * ldo + 8 * h, acc[t]);
  }
}
#endif

#ifdef VERITAS_X16_VNNI
// GCC 12's own _mm512_cvtph_ps, _mm512_cvtepi32_ps and _mm512_broadcast_i32x4 start from
// an undefined vector, which it then warns about.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// All 16 rows of a group, NT tokens: AVX-512 VNNI, 16 rows a register. vpdpbusd
// multiplies unsigned by signed bytes: the nibble types' values are the unsigned side; for
// Q8_0 the activations are, as x + 128, and 128 * sum(w) (one more vpdpbusd a chunk, shared
// by the tokens) is taken off again. Exact either way.
template <P p, int NT>
void group_vnni(const uint8_t* g, int blocks, const Acts& a, float* out, int ldo) {
  const __m512i m4 = _mm512_set1_epi8(0x0F), k128 = _mm512_set1_epi8((char)0x80), k16 = _mm512_set1_epi8(0x10);
  const __m512i spread = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12));
  const __m512i bit_lo = _mm512_set1_epi32(0x08040201), bit_hi = _mm512_set1_epi32((int)0x80402010);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int b = 0; b < blocks; ++b) {
    const uint8_t* u = g + (size_t)b * kUnit<p>;
    simd::prefetch_stream(u);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(u)));
    // Two sums a token halve the chain of dependent multiply-adds.
    __m512i s0[NT], s1[NT], off = _mm512_setzero_si512(), high = _mm512_setzero_si512();
    for (int t = 0; t < NT; ++t) s0[t] = s1[t] = _mm512_setzero_si512();
    if constexpr (p == P::Q5_0) high = _mm512_loadu_si512(u + 32);  // the fifth bits
    for (int k = 0; k < kChunks<p>; ++k) {
      const __m512i c = _mm512_loadu_si512(u + kQuants<p> + 64 * k);
      if constexpr (p == P::Q8_0) {
        off = _mm512_dpbusd_epi32(off, k128, c);
        for (int t = 0; t < NT; ++t) {
          const int8_t* x = a.q + t * a.tq + b * 32;
          __m512i& s = k % 2 ? s1[t] : s0[t];
          s = _mm512_dpbusd_epi32(s, _mm512_set1_epi32(load_i32(x + 4 * k) ^ (int32_t)0x80808080), c);
        }
      } else {
        __m512i lo = _mm512_and_si512(c, m4), hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), m4);
        if constexpr (p == P::Q5_0) {  // see group_avx2
          const __m512i v = _mm512_shuffle_epi8(high, _mm512_add_epi8(spread, _mm512_set1_epi8((char)k)));
          lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(v, bit_lo), lo, k16);
          hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(v, bit_hi), hi, k16);
        }
        for (int t = 0; t < NT; ++t) {
          const int8_t* x = a.q + t * a.tq + b * 32;
          s0[t] = _mm512_dpbusd_epi32(s0[t], lo, _mm512_set1_epi32(load_i32(x + 4 * k)));
          s1[t] = _mm512_dpbusd_epi32(s1[t], hi, _mm512_set1_epi32(load_i32(x + 16 + 4 * k)));
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      __m512i si = _mm512_add_epi32(s0[t], s1[t]);
      if constexpr (p == P::Q8_0) si = _mm512_sub_epi32(si, off);
      if constexpr (kOffset<p> != 0) si = _mm512_sub_epi32(si, _mm512_set1_epi32(kOffset<p> * a.qsum[t * a.ts + b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(si), _mm512_mul_ps(dw, _mm512_set1_ps(a.xs[t * a.ts + b])), acc[t]);
    }
    if constexpr (p == P::Q4_1) {
      const __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(u + 32)));
      for (int t = 0; t < NT; ++t) acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(a.xsum[t * a.ts + b]), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + (size_t)t * ldo, acc[t]);
}
#pragma GCC diagnostic pop
#endif

using GroupFn = void (*)(const uint8_t*, int, const Acts&, float*, int);
using ScalarFn = void (*)(const uint8_t*, int, const Acts&, float*);

struct Kernels {
  GroupFn one = nullptr, tile = nullptr;  // one token; nt tokens
  int nt = 1;
  ScalarFn scalar = nullptr;
};

template <P p>
Kernels kernels_for(Isa isa) {
  Kernels k;
  k.scalar = group_scalar<p>;
#ifdef VERITAS_X16_VNNI
  if (isa == kVnni) return k.one = group_vnni<p, 1>, k.tile = group_vnni<p, 4>, k.nt = 4, k;
#endif
#ifdef VERITAS_X16_AVX2
  if (isa != kScalar) k.one = group_avx2<p, 1>, k.tile = group_avx2<p, 2>, k.nt = 2;
#endif
  (void)isa;
  return k;
}

// Where row i's parts of one GGUF block of type p go in a unit: f(offset in the unit,
// offset in the block, bytes) for each. (Q5_0's fifth bits are rearranged: not a piece.)
template <class F>
void for_each_piece(P p, int i, F f) {
  f(2 * i, 0, 2);  // d
  if (p == P::Q8_0) {
    for (int k = 0; k < kChunks<P::Q8_0>; ++k) f(kQuants<P::Q8_0> + 64 * k + 4 * i, 2 + 4 * k, 4);
  } else if (p == P::Q4_1) {
    f(32 + 2 * i, 2, 2);  // m
    for (int k = 0; k < 4; ++k) f(kQuants<P::Q4_1> + 64 * k + 4 * i, 4 + 4 * k, 4);
  } else if (p == P::Q5_0) {
    for (int k = 0; k < 4; ++k) f(kQuants<P::Q5_0> + 64 * k + 4 * i, 6 + 4 * k, 4);
  } else {
    for (int k = 0; k < 4; ++k) f(kQuants<P::Q4_0> + 64 * k + 4 * i, 2 + 4 * k, 4);
  }
}

}  // namespace

void interleave(P p, const uint8_t* rows_blocks, int rows, size_t row_bytes, uint8_t* out) {
  const size_t bb = block_bytes(p), blocks = row_bytes / bb;
  const int padded = (rows + kGroup - 1) / kGroup * kGroup;  // the last group's padding rows are zeros
  if (padded > rows) std::memset(out + (size_t)(padded - kGroup) * row_bytes, 0, (size_t)kGroup * row_bytes);
  for (int r = 0; r < rows; ++r)
    for (size_t b = 0; b < blocks; ++b) {
      uint8_t* u = out + (size_t)(r / kGroup) * kGroup * row_bytes + b * kGroup * bb;
      const uint8_t* block = rows_blocks + (size_t)r * row_bytes + b * bb;
      const int i = r % kGroup;
      for_each_piece(p, i, [&](size_t at_unit, size_t at_block, size_t n) { std::memcpy(u + at_unit, block + at_block, n); });
      if (p == P::Q5_0) {
        uint32_t qh;
        std::memcpy(&qh, block + 2, 4);
        qh = qh_to_unit(qh);
        std::memcpy(u + 32 + 4 * i, &qh, 4);
      }
    }
}

void deinterleave_row(P p, const uint8_t* groups, size_t row_bytes, int r, uint8_t* out) {
  const size_t bb = block_bytes(p), blocks = row_bytes / bb;
  const int i = r % kGroup;
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* u = groups + (size_t)(r / kGroup) * kGroup * row_bytes + b * kGroup * bb;
    uint8_t* block = out + b * bb;
    for_each_piece(p, i, [&](size_t at_unit, size_t at_block, size_t n) { std::memcpy(block + at_block, u + at_unit, n); });
    if (p == P::Q5_0) {
      uint32_t v;
      std::memcpy(&v, u + 32 + 4 * i, 4);
      v = qh_from_unit(v);
      std::memcpy(block + 2, &v, 4);
    }
  }
}

void matmul_x16(P p, Isa isa, const uint8_t* w, size_t row_bytes, int row0, int rows, const QuantActs* qa, int T,
                float* y, int ldy, int r0, int r1) {
  const Kernels kn = p == P::Q8_0   ? kernels_for<P::Q8_0>(isa)
                     : p == P::Q4_1 ? kernels_for<P::Q4_1>(isa)
                     : p == P::Q5_0 ? kernels_for<P::Q5_0>(isa)
                                    : kernels_for<P::Q4_0>(isa);
  const int blocks = qa->blocks;
  const size_t tq = (size_t)blocks * kQBlock, ts = (size_t)blocks, group_bytes = kGroup * row_bytes;
  float part[4 * kGroup];  // a group that is not wholly asked for (or padded) goes here first
  for (int g0 = (r0 - row0) / kGroup * kGroup; row0 + g0 < r1; g0 += kGroup) {
    const uint8_t* g = w + (size_t)(g0 / kGroup) * group_bytes;
    const int a = std::max(r0, row0 + g0), e = std::min({r1, row0 + g0 + kGroup, row0 + rows});
    const bool whole = a == row0 + g0 && e == row0 + g0 + kGroup;
    auto acts = [&](int t) {
      return Acts{qa->q.data() + t * tq, qa->scale.data() + t * ts, qa->bsum.data() + t * ts, qa->qsum.data() + t * ts, tq, ts};
    };
    auto keep = [&](int t, int n) {  // the asked rows of part (n tokens) into y
      for (int i = 0; i < n; ++i)
        std::copy(part + i * kGroup + (a - row0 - g0), part + i * kGroup + (e - row0 - g0), y + (size_t)(t + i) * ldy + a);
    };
    auto run = [&](GroupFn fn, int t, int n) {
      if (whole) return fn(g, blocks, acts(t), y + (size_t)t * ldy + row0 + g0, ldy);
      fn(g, blocks, acts(t), part, kGroup);
      keep(t, n);
    };
    int t = 0;
    if (kn.tile)
      for (; t + kn.nt <= T; t += kn.nt) run(kn.tile, t, kn.nt);
    for (; t < T; ++t) {
      if (kn.one) {
        run(kn.one, t, 1);
      } else {
        kn.scalar(g, blocks, acts(t), part);
        keep(t, 1);
      }
    }
  }
}

}  // namespace veritas::infer::kq
