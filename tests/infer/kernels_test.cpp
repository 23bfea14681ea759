// Inference kernels against plain double-precision references.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "veritas/infer/kernels.hpp"
#include "veritas/model/quant.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/rng.hpp"

using namespace veritas;
using namespace veritas::infer;

static std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.0f) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = (float)r.normal() * scale;
  return v;
}

TEST(InferKernels, Bf16Rounding) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 0x1p-8f)), 1.0f);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3 * 0x1p-8f)), 1.0f + 0x1p-6f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(-2.5f)), -2.5f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  EXPECT_TRUE(std::isinf(bf16_to_f32(f32_to_bf16(INFINITY))));
}

// Odd sizes reach every tail path of the SIMD loops.
class MatmulTest : public ::testing::TestWithParam<std::tuple<Precision, int, int, int>> {};

TEST_P(MatmulTest, MatchesReference) {
  auto [prec, rows, cols, T] = GetParam();
  auto w = randn((size_t)rows * cols, 1, 0.3f);
  auto x = randn((size_t)T * (cols + 3), 2);
  QMatrix W = QMatrix::from_f32(w.data(), rows, cols, prec);
  QuantActs qa;
  qa.quantize(x.data(), T, cols, cols + 3);
  std::vector<float> y((size_t)T * (rows + 1), 0), ref((size_t)T * (rows + 1), 0);
  // Two row ranges, as two threads would split them.
  int mid = rows / 2;
  W.matmul(x.data(), cols + 3, &qa, T, y.data(), rows + 1, 0, mid);
  W.matmul(x.data(), cols + 3, &qa, T, y.data(), rows + 1, mid, rows);
  matmul_reference(W, x.data(), cols + 3, &qa, T, ref.data(), rows + 1);
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < rows; ++r) {
      float a = y[(size_t)t * (rows + 1) + r], b = ref[(size_t)t * (rows + 1) + r];
      ASSERT_NEAR(a, b, 2e-5f * (1 + std::fabs(b)) * std::sqrt((float)cols)) << "t=" << t << " r=" << r;
    }
  // The quantized product stays close to the exact fp32 product, relative to the size of
  // its terms (sum |w x|: a sum that cancels to ~0 has no meaningful relative error).
  QMatrix exact = QMatrix::from_f32(w.data(), rows, cols, Precision::F32);
  matmul_reference(exact, x.data(), cols + 3, nullptr, T, ref.data(), rows + 1);
  double err = 0, norm = 0;
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < rows; ++r) {
      double d = y[(size_t)t * (rows + 1) + r] - ref[(size_t)t * (rows + 1) + r], mag = 0;
      for (int c = 0; c < cols; ++c) mag += std::fabs((double)w[(size_t)r * cols + c] * x[(size_t)t * (cols + 3) + c]);
      err += d * d;
      norm += mag * mag;
    }
  double rel = std::sqrt(err / norm);
  double tol = prec == Precision::F32 ? 1e-6 : prec == Precision::BF16 ? 5e-3 : 2e-2;
  EXPECT_LT(rel, tol) << precision_name(prec);
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatmulTest,
                         ::testing::Combine(::testing::Values(Precision::F32, Precision::BF16, Precision::INT8),
                                            ::testing::Values(1, 7, 37), ::testing::Values(5, 64, 100),
                                            ::testing::Values(1, 3)));

TEST(InferKernels, RowsDoNotDependOnGrouping) {
  // Row r's result must be the same whether it is computed in a group of 4 or alone.
  for (Precision p : {Precision::F32, Precision::BF16, Precision::INT8}) {
    auto w = randn(9 * 70, 3), x = randn(70, 4);
    QMatrix W = QMatrix::from_f32(w.data(), 9, 70, p);
    QuantActs qa;
    qa.quantize(x.data(), 1, 70, 70);
    std::vector<float> a(9), b(9);
    W.matmul(x.data(), 70, &qa, 1, a.data(), 9, 0, 9);
    for (int r = 0; r < 9; ++r) W.matmul(x.data(), 70, &qa, 1, b.data(), 9, r, r + 1);
    for (int r = 0; r < 9; ++r) EXPECT_EQ(a[r], b[r]) << precision_name(p) << " row " << r;
  }
}

TEST(InferKernels, QuantizeActivations) {
  std::vector<float> x = {0.5f, -1.0f, 0.25f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                          0,    0,     0,     0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3.0f};
  QuantActs qa;
  qa.quantize(x.data(), 1, (int)x.size(), (int)x.size());
  ASSERT_EQ(qa.blocks, 2);
  EXPECT_FLOAT_EQ(qa.scale[0], 1.0f / 127);
  EXPECT_EQ(qa.q[0], 64);  // 0.5 * 127 = 63.5 -> rounds to even 64
  EXPECT_EQ(qa.q[1], -127);
  EXPECT_EQ(qa.q[32], 127);
  EXPECT_EQ(qa.q[33], 0);  // padding
  EXPECT_FLOAT_EQ(qa.scale[1], 3.0f / 127);
}

// The activation quantizer (SIMD for whole blocks on AVX2 machines) against the formula in
// plain scalar code: per block of 32, scale = max|x| / 127, q = round-half-even(x · 127 /
// max|x|) clamped to ±127, zero padding, qsum = Σq, bsum = scale · Σq. Exact equality: the same
// float operations in both. Rows of several widths (whole blocks and a partial one),
// ties at .5, all-zero blocks and large magnitudes.
TEST(InferKernels, QuantizeActivationsMatchScalarFormula) {
  for (int cols : {32, 64, 96, 100, 576, 1536, 33}) {
    std::vector<float> x = randn((size_t)2 * cols, 11 + cols, 3.0f);
    for (int c = 0; c < std::min(cols, 32); ++c) x[c] = 0;  // an all-zero block (row 0)
    for (int c = 32; c + 1 < cols && c < 64; c += 2) x[c] = (float)(c - 48) + 0.5f;  // ties when max|x| = 127
    if (cols > 64) x[33] = 127.0f;
    x[(size_t)cols + 1] = 1e30f;  // row 1: a huge value
    QuantActs qa;
    qa.quantize(x.data(), 2, cols, cols);
    const int blocks = (cols + 31) / 32;
    ASSERT_EQ(qa.blocks, blocks);
    for (int t = 0; t < 2; ++t)
      for (int b = 0; b < blocks; ++b) {
        const float* xb = x.data() + (size_t)t * cols + b * 32;
        const int n = std::min(32, cols - b * 32);
        float amax = 0;
        for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(xb[i]));
        const float inv = amax > 0 ? 127.0f / amax : 0.0f, scale = amax / 127.0f;
        ASSERT_EQ(qa.scale[(size_t)t * blocks + b], scale) << cols << " t" << t << " b" << b;
        int sum = 0;
        for (int i = 0; i < 32; ++i) {
          int want = 0;
          if (i < n) {
            const float v = std::min(127.0f, std::max(-127.0f, xb[i] * inv));
            want = (int)std::nearbyint(v);  // default rounding: to nearest, ties to even
          }
          ASSERT_EQ(qa.q[((size_t)t * blocks + b) * 32 + i], want) << cols << " t" << t << " b" << b << " i" << i;
          sum += want;
        }
        ASSERT_EQ(qa.bsum[(size_t)t * blocks + b], scale * (float)sum) << cols << " t" << t << " b" << b;
        ASSERT_EQ(qa.qsum[(size_t)t * blocks + b], sum) << cols << " t" << t << " b" << b;
      }
  }
}

TEST(InferKernels, RmsNormAndStreamRead) {
  std::vector<float> x = {1, 2, 3, 4}, w = {1, 0.5f, 2, 1}, out(4);
  rmsnorm(x.data(), w.data(), 4, 1e-5f, out.data());
  float inv = 1.0f / std::sqrt(30.0f / 4 + 1e-5f);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], w[i] * x[i] * inv, 1e-6f);
  auto a = randn(45, 5);
  EXPECT_NEAR(stream_read_sum(a.data(), 45), std::accumulate(a.begin(), a.end(), 0.0), 1e-4);
}

// One attention head's scores and value mix against sums in double, for head sizes with
// and without a vector body, a tail, and more than one 64-value slice (Gemma 3: 256); the
// fp16 cache gives bit for bit the fp32 results on its widened values. Bound: each sum
// rounds at most hd (scores) or n (mix) times, 1e-6 of the terms' magnitudes.
TEST(InferKernels, AttentionScoresAndMixMatchDouble) {
  for (int hd : {5, 16, 45, 64, 72, 256})
    for (int n : {1, 7, 33}) {
      const auto q = randn(hd, 7), K = randn((size_t)n * hd, 8), V = randn((size_t)n * hd, 9), p = randn(n, 10);
      std::vector<uint16_t> K16(K.size()), V16(V.size());
      std::vector<float> Kw(K.size()), Vw(V.size());
      for (size_t i = 0; i < K.size(); ++i) {
        Kw[i] = f16_to_f32(K16[i] = f32_to_f16(K[i]));
        Vw[i] = f16_to_f32(V16[i] = f32_to_f16(V[i]));
      }
      std::vector<float> s(n), s16(n), sw(n), o(hd), o16(hd), ow(hd);
      attn_scores(q.data(), K.data(), n, hd, 0.125f, s.data());
      attn_mix(p.data(), V.data(), n, hd, o.data());
      for (int j = 0; j < n; ++j) {
        double ref = 0, mag = 0;
        for (int i = 0; i < hd; ++i) ref += (double)q[i] * K[(size_t)j * hd + i], mag += std::fabs((double)q[i] * K[(size_t)j * hd + i]);
        EXPECT_NEAR(s[j], 0.125 * ref, 1e-6 * mag) << "hd " << hd << " n " << n << " j " << j;
      }
      for (int i = 0; i < hd; ++i) {
        double ref = 0, mag = 0;
        for (int j = 0; j < n; ++j) ref += (double)p[j] * V[(size_t)j * hd + i], mag += std::fabs((double)p[j] * V[(size_t)j * hd + i]);
        EXPECT_NEAR(o[i], ref, 1e-6 * mag) << "hd " << hd << " n " << n << " i " << i;
      }
      attn_scores(q.data(), K16.data(), n, hd, 0.125f, s16.data());
      attn_scores(q.data(), Kw.data(), n, hd, 0.125f, sw.data());
      attn_mix(p.data(), V16.data(), n, hd, o16.data());
      attn_mix(p.data(), Vw.data(), n, hd, ow.data());
      EXPECT_EQ(s16, sw) << "hd " << hd << " n " << n;
      EXPECT_EQ(o16, ow) << "hd " << hd << " n " << n;
    }
}

TEST(InferKernels, ParsePrecision) {
  EXPECT_EQ(parse_precision("bf16"), Precision::BF16);
  EXPECT_EQ(parse_precision("int8"), Precision::INT8);
  EXPECT_EQ(parse_precision("fp32"), Precision::F32);
  EXPECT_THROW(parse_precision("fp8"), veritas::Error);
}
