#include "veritas/infer/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VERITAS_AVX2 1
#endif

#include "veritas/model/quant.hpp"
#include "veritas/util/error.hpp"
#include "veritas/infer/qblocks_k.hpp"
#include "veritas/infer/simd.hpp"

namespace veritas::infer {

Precision parse_precision(std::string_view s) {
  if (s == "fp32" || s == "f32" || s == "float32") return Precision::F32;
  if (s == "bf16" || s == "bfloat16") return Precision::BF16;
  if (s == "int8" || s == "q8") return Precision::INT8;
  if (s == "gguf") return Precision::GGUF;
  throw Error("unknown precision '" + std::string(s) + "' (expected fp32, bf16, int8 or gguf)");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::F32: return "fp32";
    case Precision::BF16: return "bf16";
    case Precision::INT8: return "int8";
    case Precision::Q8_0: return "q8_0";
    case Precision::Q4_0: return "q4_0";
    case Precision::Q4_1: return "q4_1";
    case Precision::GGUF: return "gguf";
    case Precision::Q4_K: return "q4_k";
    case Precision::Q5_K: return "q5_k";
    case Precision::Q6_K: return "q6_k";
    case Precision::Q5_0: return "q5_0";
    case Precision::F16: return "f16";
  }
  return "?";
}

size_t precision_weight_bytes(Precision p) {
  return p == Precision::F32 ? 4 : p == Precision::BF16 || p == Precision::F16 ? 2 : 1;  // Q4: 1 rounds 0.5625 up
}

void* alloc_buffer(size_t& bytes, bool huge) {
  constexpr size_t kHuge = size_t(1) << 21;
  if (!huge || bytes < kHuge) return std::aligned_alloc(64, bytes ? bytes : 64);
  bytes = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, bytes);
#ifdef MADV_HUGEPAGE
  if (p) madvise(p, bytes, MADV_HUGEPAGE);  // advice: without huge pages it works the same
#endif
  return p;
}

uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return (uint16_t)(u >> 16);
}

float bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

static int round_up(int n, int m) { return (n + m - 1) / m * m; }

// bf16 rows are stored in blocks of 16 columns as 8 pairs (c, c + 8): one 32-bit lane
// holds column c in its low half and column c + 8 in its high half. A shift and a mask
// then turn 16 bf16 values into two fp32 vectors matching x[c..c+8) and x[c+8..c+16),
// 2.5 instructions per 8 multiply-adds instead of 4. Columns past the last full block
// are stored in order.
static inline size_t bf16_index(int c, int cols) {
  int full = cols / 16 * 16;
  if (c >= full) return c;
  int b = c / 16, j = c % 16;
  return (size_t)b * 16 + (j < 8 ? 2 * j : 2 * (j - 8) + 1);
}

void QuantActs::prepare(int T_, int cols_) {
  T = T_;
  cols = cols_;
  blocks = (cols + kQBlock - 1) / kQBlock;
  size_t need = (size_t)T * blocks * kQBlock;
  if (q.size() < need) q.resize(need, false);
  if (scale.size() < (size_t)T * blocks) scale.resize((size_t)T * blocks, false);
  if (bsum.size() < (size_t)T * blocks) bsum.resize((size_t)T * blocks, false);
  if (qsum.size() < (size_t)T * blocks) qsum.resize((size_t)T * blocks, false);
}

void QuantActs::quantize_row(int t, const float* xt) {
  int8_t* qt = q.data() + (size_t)t * blocks * kQBlock;
  float* st = scale.data() + (size_t)t * blocks;
  int b = 0;
#ifdef VERITAS_AVX2
  // Whole blocks, 8 values at a time, with the scalar loop's float operations: the same
  // maximum, one multiply, the same clamp, and cvtps2dq rounds to nearest even as lrintf
  // does, so the result is bit-identical for finite activations (libm's lrintf, one call
  // a value, was 7% of a Q8_0 prompt's time).
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
  for (; (b + 1) * kQBlock <= cols; ++b) {
    const float* xb = xt + b * kQBlock;
    __m256 v[4], m = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(xb + 8 * k);
      m = _mm256_max_ps(_mm256_and_ps(v[k], abs_mask), m);  // a NaN is skipped, as by std::max
    }
    const float amax = simd::hmax8(m);
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    st[b] = amax / 127.0f;
    const __m256 vi = _mm256_set1_ps(inv);
    __m256i qi[4];
    for (int k = 0; k < 4; ++k)
      qi[k] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v[k], vi), lo), hi));
    // int32 -> int8 (no saturation: |q| <= 127); the packs interleave 128-bit lanes, the
    // permutation puts the 32 values back in order.
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(qi[0], qi[1]), _mm256_packs_epi32(qi[2], qi[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qt + b * kQBlock),
                        _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    qsum[(size_t)t * blocks + b] = _mm_cvtsi128_si32(s4);
    bsum[(size_t)t * blocks + b] = st[b] * (float)qsum[(size_t)t * blocks + b];
  }
#endif
  for (; b < blocks; ++b) {
    int c0 = b * kQBlock, c1 = std::min(cols, c0 + kQBlock);
    float amax = 0;
    for (int c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(xt[c]));
    float inv = amax > 0 ? 127.0f / amax : 0.0f;
    st[b] = amax / 127.0f;
    int sum = 0;
    for (int c = c0; c < c0 + kQBlock; ++c) {
      qt[c] = c < c1 ? (int8_t)std::lrintf(std::clamp(xt[c] * inv, -127.0f, 127.0f)) : 0;
      sum += qt[c];
    }
    qsum[(size_t)t * blocks + b] = sum;
    bsum[(size_t)t * blocks + b] = st[b] * (float)sum;
  }
}

void QuantActs::quantize(const float* x, int T_, int cols_, int ldx) {
  prepare(T_, cols_);
  for (int t = 0; t < T; ++t) quantize_row(t, x + (size_t)t * ldx);
}

QMatrix QMatrix::from_f32(const float* w, int rows, int cols, Precision p) {
  check(rows > 0 && cols > 0, "QMatrix: empty matrix");
  check(p == Precision::F32 || p == Precision::BF16 || p == Precision::INT8,
        std::string("QMatrix::from_f32: no conversion to ") + precision_name(p));
  QMatrix m;
  m.prec_ = p;
  m.rows_ = rows;
  m.cols_ = cols;
  m.quant_acts_ = p == Precision::INT8;
  m.reads_x_ = !m.quant_acts_;
  size_t n = (size_t)rows * cols;
  if (p == Precision::F32) {
    m.ld_ = cols;
    m.f32_.resize_weights(n);
    std::memcpy(m.f32_.data(), w, n * sizeof(float));
  } else if (p == Precision::BF16) {
    m.ld_ = cols;
    m.bf16_.resize_weights(n);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c)
        m.bf16_[(size_t)r * cols + bf16_index(c, cols)] = f32_to_bf16(w[(size_t)r * cols + c]);
  } else {
    // Symmetric per-row scale; -128 is never used so |w| fits the unsigned operand.
    m.ld_ = round_up(cols, kQBlock);
    m.q8_.resize_weights((size_t)rows * m.ld_, true);
    m.scale_.resize(rows, false);
    for (int r = 0; r < rows; ++r) {
      const float* wr = w + (size_t)r * cols;
      float amax = 0;
      for (int c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(wr[c]));
      float inv = amax > 0 ? 127.0f / amax : 0.0f;
      m.scale_[r] = amax / 127.0f;
      int8_t* q = m.q8_.data() + (size_t)r * m.ld_;
      for (int c = 0; c < cols; ++c) q[c] = (int8_t)std::lrintf(std::clamp(wr[c] * inv, -127.0f, 127.0f));
    }
  }
  return m;
}

size_t QMatrix::weight_bytes() const {
  if (blk_.size()) return blk_.size();
  if (prec_ == Precision::INT8) return (size_t)rows_ * ld_ + (size_t)rows_ * sizeof(float);
  return (size_t)rows_ * cols_ * precision_weight_bytes(prec_);
}

QMatrix::Bytes QMatrix::row_bytes(int r0, int r1) const {
  r0 = std::max(r0, 0);
  r1 = std::min(r1, rows_);
  if (r0 >= r1) return {};
  if (blk_.size()) {
    const Seg &a = seg_of(r0), &b = seg_of(r1 - 1);
    const size_t begin = a.offset + (size_t)(r0 - a.r0) * a.row_bytes;
    const size_t end = std::min(blk_.size(), b.offset + (size_t)(r1 - b.r0) * b.row_bytes);
    return {blk_.data() + begin, end - begin};
  }
  const uint8_t* base = prec_ == Precision::INT8   ? reinterpret_cast<const uint8_t*>(q8_.data())
                        : prec_ == Precision::BF16 ? reinterpret_cast<const uint8_t*>(bf16_.data())
                                                   : reinterpret_cast<const uint8_t*>(f32_.data());
  const size_t row = (size_t)ld_ * (prec_ == Precision::INT8 ? 1 : prec_ == Precision::BF16 ? 2 : 4);
  return {base + (size_t)r0 * row, (size_t)(r1 - r0) * row};
}

Precision QMatrix::row_precision(int r) const { return blk_.size() ? seg_of(r).p : prec_; }

void QMatrix::row_f32(int r, float* out) const {
  if (blk_.size()) {
    const Seg& sg = seg_of(r);
    const Precision p = sg.p;
    const uint8_t* row = blk_.data() + sg.offset + (size_t)(r - sg.r0) * sg.row_bytes;
    if (kq::interleaved(p)) {  // back to the file's layout first (an embedding lookup a token)
      thread_local std::vector<uint8_t> blocks;
      blocks.resize(sg.row_bytes);
      kq::deinterleave_row(p, blk_.data() + sg.offset, sg.row_bytes, r - sg.r0, blocks.data());
      row = blocks.data();
    }
    dequantize(kq::ggml_type_of(p), row, cols_, out);
    return;
  }
  size_t o = (size_t)r * ld_;
  for (int c = 0; c < cols_; ++c) {
    if (prec_ == Precision::F32) out[c] = f32_[o + c];
    else if (prec_ == Precision::BF16) out[c] = bf16_to_f32(bf16_[o + bf16_index(c, cols_)]);
    else out[c] = q8_[o + c] * scale_[r];
  }
}

// ---------------------------------------------------------------------------------------
// Dot-product kernels. Each processes NR rows against one token; the arithmetic applied
// to one row is the same for every NR, so results never depend on how rows are grouped.

#ifdef VERITAS_AVX2
using simd::hsum8;

static inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
static inline __m256 load8(const uint16_t* p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
#endif

static inline float to_f(float v) { return v; }
static inline float to_f(uint16_t v) { return bf16_to_f32(v); }

template <int NR, class W>
static inline void dot_rows(const W* w, size_t ld, const float* x, int n, float* out) {
  int c = 0;
#ifdef VERITAS_AVX2
  __m256 a0[NR], a1[NR];
  for (int i = 0; i < NR; ++i) a0[i] = a1[i] = _mm256_setzero_ps();
  for (; c + 16 <= n; c += 16) {
    __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
    for (int i = 0; i < NR; ++i) {
      a0[i] = _mm256_fmadd_ps(load8(w + i * ld + c), x0, a0[i]);
      a1[i] = _mm256_fmadd_ps(load8(w + i * ld + c + 8), x1, a1[i]);
    }
  }
  if (c + 8 <= n) {
    __m256 x0 = _mm256_loadu_ps(x + c);
    for (int i = 0; i < NR; ++i) a0[i] = _mm256_fmadd_ps(load8(w + i * ld + c), x0, a0[i]);
    c += 8;
  }
  for (int i = 0; i < NR; ++i) out[i] = hsum8(_mm256_add_ps(a0[i], a1[i]));
#else
  for (int i = 0; i < NR; ++i) out[i] = 0;
#endif
  for (int i = 0; i < NR; ++i) {
    float s = 0;
    for (int k = c; k < n; ++k) s += to_f(w[i * ld + k]) * x[k];
    out[i] += s;
  }
}

template <int NR>
static inline void dot_rows_bf16(const uint16_t* w, size_t ld, const float* x, int n, float* out) {
  const int full = n / 16 * 16;
#ifdef VERITAS_AVX2
  const __m256i hi_mask = _mm256_set1_epi32((int)0xFFFF0000u);
  __m256 a0[NR], a1[NR];
  for (int i = 0; i < NR; ++i) a0[i] = a1[i] = _mm256_setzero_ps();
  for (int c = 0; c < full; c += 16) {
    __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
    for (int i = 0; i < NR; ++i) {
      __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i * ld + c));
      a0[i] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), x0, a0[i]);
      a1[i] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v, hi_mask)), x1, a1[i]);
    }
  }
  for (int i = 0; i < NR; ++i) out[i] = hsum8(_mm256_add_ps(a0[i], a1[i]));
#else
  for (int i = 0; i < NR; ++i) {
    float s = 0;
    for (int c = 0; c < full; ++c) s += bf16_to_f32(w[i * ld + bf16_index(c, n)]) * x[c];
    out[i] = s;
  }
#endif
  for (int i = 0; i < NR; ++i) {
    float s = 0;
    for (int k = full; k < n; ++k) s += bf16_to_f32(w[i * ld + k]) * x[k];
    out[i] += s;
  }
}

template <int NR>
static inline void dot_rows_q8(const int8_t* w, size_t ld, const int8_t* xq, const float* xs, int blocks,
                               float* out) {
#ifdef VERITAS_AVX2
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NR];
  for (int i = 0; i < NR; ++i) acc[i] = _mm256_setzero_ps();
  for (int b = 0; b < blocks; ++b) {
    __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * kQBlock));
    __m256 s = _mm256_broadcast_ss(xs + b);
    for (int i = 0; i < NR; ++i) {
      __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i * ld + b * kQBlock));
      // maddubs multiplies unsigned by signed: move w's sign onto x, use |w|.
      __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
      __m256i p32 = _mm256_madd_epi16(p16, ones);
      acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), s, acc[i]);
    }
  }
  for (int i = 0; i < NR; ++i) out[i] = hsum8(acc[i]);
#else
  for (int i = 0; i < NR; ++i) {
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int b = 0; b < blocks; ++b) {
      for (int l = 0; l < 8; ++l) {
        int32_t s = 0;
        for (int k = 0; k < 4; ++k) {
          int c = b * kQBlock + l * 4 + k;
          s += (int32_t)w[i * ld + c] * xq[c];
        }
        lanes[l] += (float)s * xs[b];
      }
    }
    out[i] = ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
  }
#endif
}

void QMatrix::matmul(const float* x, int ldx, const QuantActs* qa, int T, float* y, int ldy, int r0,
                     int r1) const {
  constexpr int NR = 4;
  float tmp[NR];
  if (blk_.size()) {
    check(!quant_acts_ || (qa && qa->cols == cols_ && qa->T >= T),
          "QMatrix::matmul: block weights need quantized activations");
    check(!reads_x_ || x, "QMatrix::matmul: F16 weights need fp32 activations");
    matmul_blocks(x, ldx, qa, T, y, ldy, r0, r1);
    return;
  }
  if (prec_ == Precision::INT8) {
    check(qa && qa->cols == cols_ && qa->T >= T, "QMatrix::matmul: int8 needs quantized activations");
    const int blocks = qa->blocks;
    int r = r0;
    for (; r + NR <= r1; r += NR) {
      const int8_t* w = q8_.data() + (size_t)r * ld_;
      for (int t = 0; t < T; ++t) {
        dot_rows_q8<NR>(w, ld_, qa->q.data() + (size_t)t * blocks * kQBlock, qa->scale.data() + (size_t)t * blocks,
                        blocks, tmp);
        for (int i = 0; i < NR; ++i) y[(size_t)t * ldy + r + i] = tmp[i] * scale_[r + i];
      }
    }
    for (; r < r1; ++r) {
      const int8_t* w = q8_.data() + (size_t)r * ld_;
      for (int t = 0; t < T; ++t) {
        dot_rows_q8<1>(w, ld_, qa->q.data() + (size_t)t * blocks * kQBlock, qa->scale.data() + (size_t)t * blocks,
                       blocks, tmp);
        y[(size_t)t * ldy + r] = tmp[0] * scale_[r];
      }
    }
    return;
  }
  auto run = [&](const auto* base, auto dot4, auto dot1) {
    int r = r0;
    for (; r + NR <= r1; r += NR) {
      for (int t = 0; t < T; ++t) {
        dot4(base + (size_t)r * ld_, ld_, x + (size_t)t * ldx, cols_, tmp);
        for (int i = 0; i < NR; ++i) y[(size_t)t * ldy + r + i] = tmp[i];
      }
    }
    for (; r < r1; ++r)
      for (int t = 0; t < T; ++t) {
        dot1(base + (size_t)r * ld_, ld_, x + (size_t)t * ldx, cols_, tmp);
        y[(size_t)t * ldy + r] = tmp[0];
      }
  };
  if (prec_ == Precision::F32) run(f32_.data(), dot_rows<NR, float>, dot_rows<1, float>);
  else run(bf16_.data(), dot_rows_bf16<NR>, dot_rows_bf16<1>);
}

void matmul_reference(const QMatrix& W, const float* x, int ldx, const QuantActs* qa, int T, float* y,
                      int ldy) {
  std::vector<float> row(W.cols());
  for (int r = 0; r < W.rows(); ++r) {
    W.row_f32(r, row.data());
    for (int t = 0; t < T; ++t) {
      double s = 0;
      if (W.uses_quant_acts() && W.row_precision(r) != Precision::F16) {
        // The exact value the int8 kernel approximates: quantized weights x quantized acts.
        const int8_t* q = qa->q.data() + (size_t)t * qa->blocks * kQBlock;
        const float* sc = qa->scale.data() + (size_t)t * qa->blocks;
        for (int c = 0; c < W.cols(); ++c) s += (double)row[c] * q[c] * sc[c / kQBlock];
      } else {
        for (int c = 0; c < W.cols(); ++c) s += (double)row[c] * x[(size_t)t * ldx + c];
      }
      y[(size_t)t * ldy + r] = (float)s;
    }
  }
}

void rmsnorm(const float* x, const float* w, int n, float eps, float* out) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += (double)x[i] * x[i];
  float inv = 1.0f / std::sqrt((float)(ss / n) + eps);
  for (int i = 0; i < n; ++i) out[i] = w[i] * (x[i] * inv);
}

namespace {

inline float widen(float v) { return v; }
inline float widen(uint16_t h) { return f16_to_f32(h); }
#ifdef VERITAS_AVX2
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
#ifdef __F16C__
inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
#define VERITAS_LOAD8_F16 1
#endif
#endif

template <class T>
void attn_scores_t(const float* q, const T* K, int n, int hd, float scale, float* scores) {
  for (int j = 0; j < n; ++j) {
    const T* k = K + (size_t)j * hd;
    int i = 0;
    float s = 0;
#if defined(VERITAS_AVX2) && defined(VERITAS_LOAD8_F16)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; i + 16 <= hd; i += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(k + i), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load8(k + i + 8), a1);
    }
    for (; i + 8 <= hd; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(k + i), a0);
    s = hsum8(_mm256_add_ps(a0, a1));
#endif
    for (; i < hd; ++i) s += q[i] * widen(k[i]);
    scores[j] = s * scale;
  }
}

// 64 output values at a time stay in registers over all positions (a multiply-add chain
// per value, positions in order): with out in memory, each position's load and store of
// out waited on the previous position's.
template <class T>
void attn_mix_t(const float* p, const T* V, int n, int hd, float* out) {
  int d0 = 0;
#if defined(VERITAS_AVX2) && defined(VERITAS_LOAD8_F16)
  while (hd - d0 >= 8) {
    const int m = std::min(8, (hd - d0) / 8);  // 8-value vectors in this slice
    __m256 acc[8];
    for (int u = 0; u < 8; ++u) acc[u] = _mm256_setzero_ps();
    for (int j = 0; j < n; ++j) {
      const __m256 pj = _mm256_set1_ps(p[j]);
      const T* v = V + (size_t)j * hd + d0;
      if (m == 8) {  // the common case, unrolled in full
        for (int u = 0; u < 8; ++u) acc[u] = _mm256_fmadd_ps(pj, load8(v + 8 * u), acc[u]);
      } else {
        for (int u = 0; u < m; ++u) acc[u] = _mm256_fmadd_ps(pj, load8(v + 8 * u), acc[u]);
      }
    }
    for (int u = 0; u < m; ++u) _mm256_storeu_ps(out + d0 + 8 * u, acc[u]);
    d0 += 8 * m;
  }
#endif
  for (int d = d0; d < hd; ++d) {
    float acc = 0;
    for (int j = 0; j < n; ++j) acc = std::fma(p[j], widen(V[(size_t)j * hd + d]), acc);
    out[d] = acc;
  }
}

}  // namespace

void attn_scores(const float* q, const float* K, int n, int hd, float scale, float* scores) {
  attn_scores_t(q, K, n, hd, scale, scores);
}
void attn_scores(const float* q, const uint16_t* K, int n, int hd, float scale, float* scores) {
  attn_scores_t(q, K, n, hd, scale, scores);
}
void attn_mix(const float* p, const float* V, int n, int hd, float* out) { attn_mix_t(p, V, n, hd, out); }
void attn_mix(const float* p, const uint16_t* V, int n, int hd, float* out) { attn_mix_t(p, V, n, hd, out); }

double stream_read_sum(const float* p, size_t n) {
  size_t i = 0;
  double total = 0;
#ifdef VERITAS_AVX2
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (; i + 32 <= n; i += 32) {
    // Prefetched into L2 4 KiB ahead, as the decoder's kernels stream their weights
    // (simd::prefetch_stream): without it this probe read 28 GB/s where the decoder
    // streamed 30-32 (AMD EPYC, 2 threads, 2026-12-07), so it was no ceiling.
    const auto* b = reinterpret_cast<const uint8_t*>(p + i);
    simd::prefetch_stream(b);
    simd::prefetch_stream(b + 64);
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
  }
  total = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
#endif
  for (; i < n; ++i) total += p[i];
  return total;
}

}  // namespace veritas::infer
