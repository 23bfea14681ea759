// Matrix x vector products reading GGUF Q4_0 / Q5_0 blocks directly, row after row (no fp32
// copy of the weights). Activations come quantized as llama.cpp does for these types:
// blocks of 32 int8 with one fp32 scale (QuantActs). Per block of 32 weights:
//   Q4_0:  d_w * d_x * sum((n - 8) * q_x)
//   Q5_0:  d_w * d_x * sum((n - 16) * q_x)                      (n: the 5-bit value)
// The integer sums are exact in every instruction set, and the fp32 accumulation runs in
// the same order (8 lanes, then a fixed horizontal sum), so the AVX2 and AVX-512 VNNI
// kernels give bit-identical results; the scalar fallback differs only by fp32 rounding.
// A (row, token) product is computed the same way whatever the number of tokens.
// Q4_1 and Q8_0 (SmolLM2's types) are stored as groups of 16 interleaved rows and
// multiplied in qblocks_x16.cpp, K-quants (Q4_K, Q5_K, Q6_K) in qblocks_k.cpp, F16 rows in
// qblocks_f16.cpp; a matrix may stack row ranges of different types
// (QMatrix::from_block_parts), each run by its own kernel.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <utility>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define VERITAS_QB_AVX2 1
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define VERITAS_QB_VNNI 1
#endif
#endif

#include "veritas/infer/kernels.hpp"
#include "veritas/infer/qblocks_k.hpp"
#include "veritas/infer/simd.hpp"
#include "veritas/model/quant.hpp"
#include "veritas/util/error.hpp"

namespace veritas::infer {

namespace {

using kq::Isa;
using kq::kScalar;
using kq::kAvx2;
using kq::kVnni;

Isa detect() {
#ifdef VERITAS_QB_VNNI
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) return kVnni;
#endif
#ifdef VERITAS_QB_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kAvx2;
#endif
  return kScalar;
}

std::atomic<int> g_isa{-1};

Isa isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) g_isa.store(v = detect(), std::memory_order_relaxed);
  return (Isa)v;
}

int block_bytes(Precision p) {
  return p == Precision::Q8_0 ? 34 : p == Precision::Q4_0 ? 18 : p == Precision::Q5_0 ? 22 : 20;
}

// Bit j of Q5_0's qh (little-endian u32) is the fifth bit of weight j.
inline uint32_t q5_high_bits(const uint8_t* w) {
  return (uint32_t)w[2] | (uint32_t)w[3] << 8 | (uint32_t)w[4] << 16 | (uint32_t)w[5] << 24;
}

bool is_kquant(Precision p) { return p == Precision::Q4_K || p == Precision::Q5_K || p == Precision::Q6_K; }

inline float h2f(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// Scalar fallback: one row, one token. Not auto-vectorized: GCC 12 at -O3 with AVX-512
// VNNI turned the signed x signed byte loop into a wrong vpdpbusd (unsigned x signed)
// dot product (caught by tests/infer/gguf_test.cpp).
__attribute__((optimize("no-tree-vectorize"))) float dot_scalar(Precision p, const uint8_t* w, const int8_t* xq, const float* xs, int blocks) {
  float acc = 0;
  const int bb = block_bytes(p);
  for (int b = 0; b < blocks; ++b, w += bb) {
    const int8_t* x = xq + b * 32;
    int32_t s = 0;
    if (p == Precision::Q5_0) {
      const uint32_t qh = q5_high_bits(w);
      for (int j = 0; j < 16; ++j)
        s += ((int)((w[6 + j] & 0xF) | ((qh >> j) & 1) << 4) - 16) * x[j] +
             ((int)((w[6 + j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - 16) * x[j + 16];
    } else {
      for (int j = 0; j < 16; ++j) s += ((w[2 + j] & 0xF) - 8) * x[j] + ((w[2 + j] >> 4) - 8) * x[j + 16];
    }
    acc += (float)s * (h2f(w) * xs[b]);
  }
  return acc;
}

#ifdef VERITAS_QB_AVX2
using simd::h2f_fast;
using simd::hsum8;

// 16 bytes of nibbles -> 32 bytes: low nibbles (weights 0..15), then high (16..31).
inline __m256i unpack_nibbles(const uint8_t* q) {
  __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m), _mm_and_si128(raw, m));
}

// Q5_0's 32 fifth bits as bytes 0x10 (bit set) or 0: byte j takes byte j/8 of qh and
// keeps bit j%8.
inline __m256i q5_high_bytes(uint32_t qh) {
  const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
  const __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), pick), bit);
  return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(0x10));
}

// Sum of u8 a[i] * s8 b[i] in 8 int32 lanes (4 products each); exact for |a|,|b| <= 127
// and a <= 15 (no 16-bit saturation).
template <bool Vnni>
inline __m256i dot_u8s8(__m256i a, __m256i b) {
#ifdef VERITAS_QB_VNNI
  if constexpr (Vnni) return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
#endif
  return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

// R rows x NT tokens (out[t * ldy + r]; token t's activations blocks * 32 bytes and
// blocks scales apart): each activation block is loaded once for all R rows and each
// weight block unpacked once for all NT tokens (prompt processing reuses it NT times),
// and the R x NT sums are independent dependency chains, so the core overlaps them. Each
// (row, token)'s arithmetic is the same whatever R and NT (exact integer lane sums; 8 fp32
// lanes, blocks in order, then a fixed horizontal sum), so a result depends neither on the
// rows it is grouped with nor on the number of tokens. The type is a template parameter
// so the block loop has no branch on it.
template <bool Vnni, Precision p, int R, int NT>
void dot_rows_simd(const uint8_t* w, size_t row_bytes, const int8_t* xq, const float* xs, int blocks, float* out,
                   int ldy) {
  constexpr int bb = p == Precision::Q4_0 ? 18 : 22;
  const size_t tq = (size_t)blocks * 32;  // bytes between tokens' activations
  __m256 acc[R][NT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int b = 0; b < blocks; ++b) {
    __m256i x[NT];
    __m256 xsb[NT];
    for (int t = 0; t < NT; ++t) {
      x[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + t * tq + b * 32));
      xsb[t] = _mm256_set1_ps(xs[(size_t)t * blocks + b]);
      // In registers for all R rows (GCC would rather fold the loads into each use).
      if constexpr (R > 1) asm("" : "+v"(x[t]), "+v"(xsb[t]));
    }
    for (int r = 0; r < R; ++r) {
      const uint8_t* wb = w + r * row_bytes + (size_t)b * bb;
      // One row, one token: decoding (simd::prefetch_stream). Several rows: the same block
      // two groups of rows ahead, as the hardware prefetchers lose the stream at every
      // chunk's end.
      if constexpr (R == 1 && NT == 1)
        simd::prefetch_stream(wb);
      else
        _mm_prefetch(reinterpret_cast<const char*>(wb + 2 * R * row_bytes), _MM_HINT_T0);
      const __m256 dw = _mm256_set1_ps(h2f_fast(wb));
      __m256i s32[NT];
      __m256i wv;
      if constexpr (p == Precision::Q4_0) {
        wv = _mm256_sub_epi8(unpack_nibbles(wb + 2), _mm256_set1_epi8(8));
      } else {  // |n - 16| <= 16: maddubs pairs stay exact
        const __m256i n = _mm256_or_si256(unpack_nibbles(wb + 6), q5_high_bytes(q5_high_bits(wb)));
        wv = _mm256_sub_epi8(n, _mm256_set1_epi8(16));
      }
      const __m256i aw = _mm256_sign_epi8(wv, wv);  // |w| * (x * sign w)
      for (int t = 0; t < NT; ++t) s32[t] = dot_u8s8<Vnni>(aw, _mm256_sign_epi8(x[t], wv));
      for (int t = 0; t < NT; ++t)
        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32[t]), _mm256_mul_ps(dw, xsb[t]), acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NT; ++t) out[(size_t)t * ldy + r] = hsum8(acc[r][t]);
}
#endif

}  // namespace

const char* block_kernels() {
  switch (isa()) {
    case kVnni: return "avx512-vnni";
    case kAvx2: return "avx2";
    case kScalar: return "scalar";
  }
  return "?";
}

void set_block_kernels(std::string_view name) {
  Isa best = detect();
  Isa want = name == "avx512-vnni" ? kVnni : name == "avx2" ? kAvx2 : name == "scalar" ? kScalar : best;
  check(name == "avx512-vnni" || name == "avx2" || name == "scalar" || name == "auto",
        "block kernels: unknown instruction set '" + std::string(name) + "' (avx512-vnni, avx2, scalar, auto)");
  check(want <= best, "block kernels: this CPU (or build) cannot run " + std::string(name));
  g_isa.store(want, std::memory_order_relaxed);
}

QMatrix QMatrix::from_blocks(const void* blocks, int rows, int cols, Precision p) {
  return from_block_parts({{blocks, rows, p}}, cols);
}

QMatrix QMatrix::from_block_parts(const std::vector<BlockPart>& parts, int cols) {
  check(!parts.empty(), "QMatrix::from_block_parts: no parts");
  QMatrix m;
  m.prec_ = parts[0].p;
  m.cols_ = m.ld_ = cols;
  m.reads_x_ = false;
  size_t bytes = 0;
  for (const BlockPart& b : parts) {
    const Precision p = b.p;
    check(p == Precision::Q8_0 || p == Precision::Q4_0 || p == Precision::Q4_1 || p == Precision::Q5_0 || is_kquant(p) ||
              p == Precision::F16,
          "QMatrix::from_blocks: only Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q5_K, Q6_K blocks and F16 rows");
    const int qk = is_kquant(p) ? 256 : p == Precision::F16 ? 1 : 32;
    check(b.rows > 0 && cols > 0 && cols % qk == 0,
          "QMatrix::from_blocks: cols must be a positive multiple of " + std::to_string(qk));
    const size_t rb = is_kquant(p)            ? (size_t)cols / 256 * kq::superblock_bytes(p)
                      : p == Precision::F16 ? (size_t)cols * 2
                                            : (size_t)cols / 32 * block_bytes(p);
    (p == Precision::F16 ? m.reads_x_ : m.quant_acts_) = true;
    m.segs_.push_back({m.rows_, m.rows_ + b.rows, p, bytes, rb});
    m.rows_ += b.rows;
    // Interleaved types take whole groups of rows (the last one padded).
    bytes += rb * (kq::interleaved(p) ? (size_t)(b.rows + kq::kGroup - 1) / kq::kGroup * kq::kGroup : b.rows);
  }
  m.blk_.resize_weights(bytes);
  for (size_t i = 0; i < parts.size(); ++i) {
    const Seg& sg = m.segs_[i];
    uint8_t* dst = m.blk_.data() + sg.offset;
    if (kq::interleaved(sg.p)) kq::interleave(sg.p, static_cast<const uint8_t*>(parts[i].blocks), parts[i].rows, sg.row_bytes, dst);
    else std::memcpy(dst, parts[i].blocks, sg.row_bytes * parts[i].rows);
  }
  return m;
}

const QMatrix::Seg& QMatrix::seg_of(int r) const {
  for (const Seg& s : segs_)
    if (r < s.r1) return s;
  return segs_.back();
}

namespace {

using RowsFn = void (*)(const uint8_t*, size_t, const int8_t*, const float*, int, float*, int);
constexpr int kRows = 4;  // rows per call of the SIMD kernels

#ifdef VERITAS_QB_AVX2
template <bool Vnni, int R, int NT>
RowsFn simd_fn(Precision p) {
  return p == Precision::Q4_0 ? dot_rows_simd<Vnni, Precision::Q4_0, R, NT> : dot_rows_simd<Vnni, Precision::Q5_0, R, NT>;
}
#endif

}  // namespace

void QMatrix::matmul_blocks(const float* x, int ldx, const QuantActs* qa, int T, float* y, int ldy, int r0,
                            int r1) const {
  const Isa which = isa();
  for (const Seg& sg : segs_) {
    const int a = std::max(r0, sg.r0), b = std::min(r1, sg.r1);
    if (a >= b) continue;
    const uint8_t* base = blk_.data() + sg.offset;  // row sg.r0
    if (sg.p == Precision::F16) {
      kq::matmul_f16(which, base, sg.row_bytes, sg.r0, cols_, x, ldx, T, y, ldy, a, b);
      continue;
    }
    if (is_kquant(sg.p)) {
      kq::matmul(sg.p, which, base, sg.row_bytes, sg.r0, qa, T, y, ldy, a, b);
      continue;
    }
    if (kq::interleaved(sg.p)) {
      kq::matmul_x16(sg.p, which, base, sg.row_bytes, sg.r0, sg.r1 - sg.r0, qa, T, y, ldy, a, b);
      continue;
    }
    const int blocks = qa->blocks;
    // Prompts take kRows rows x nt tokens per call (VNNI: 4 x 4 accumulators of the 32 ymm
    // registers; AVX2 has 16, so 2 tokens). A single token (decoding, and a prompt's
    // leftovers) goes one row at a time: a row is one sequential stream, and on an AMD EPYC
    // 4 rows read side by side decoded at half the speed (Q8_0, 1 thread: 58 against 114
    // tokens/s; on the Xeon the two were level).
    RowsFn fn1 = nullptr, fn4t = nullptr;
    int nt = 1;
#ifdef VERITAS_QB_AVX2
    if (which == kVnni) fn1 = simd_fn<true, 1, 1>(sg.p), fn4t = simd_fn<true, kRows, 4>(sg.p), nt = 4;
    else if (which == kAvx2) fn1 = simd_fn<false, 1, 1>(sg.p), fn4t = simd_fn<false, kRows, 2>(sg.p), nt = 2;
#endif
    const int8_t* xq0 = qa->q.data();
    const float* xs0 = qa->scale.data();
    auto at = [&](int t) { return std::pair{xq0 + (size_t)t * blocks * kQBlock, xs0 + (size_t)t * blocks}; };
    for (int r = a; r < b;) {
      const int n = fn4t && b - r >= kRows && T >= nt ? kRows : 1;
      const uint8_t* w = base + (size_t)(r - sg.r0) * sg.row_bytes;
      int t = 0;
      if (n == kRows)
        for (; t + nt <= T; t += nt) {
          auto [xq, xs] = at(t);
          fn4t(w, sg.row_bytes, xq, xs, blocks, y + (size_t)t * ldy + r, ldy);
        }
      for (; t < T; ++t) {
        auto [xq, xs] = at(t);
        for (int i = 0; i < n; ++i) {
          const uint8_t* wi = w + (size_t)i * sg.row_bytes;
          float* yt = y + (size_t)t * ldy + r + i;
          if (fn1) fn1(wi, sg.row_bytes, xq, xs, blocks, yt, ldy);
          else *yt = dot_scalar(sg.p, wi, xq, xs, blocks);
        }
      }
      r += n;
    }
  }
}

}  // namespace veritas::infer
