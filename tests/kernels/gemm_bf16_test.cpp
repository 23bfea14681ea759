// gemm_bf16 against exact arithmetic: the inputs rounded to bf16 by an independent rule
// (the bf16 neighbours of x, the nearer one, ties to the even mantissa), their products
// summed in long double. Every path the CPU has runs: AMX tiles, AVX-512 BF16 dot
// products, and the rounded-sgemm fallback (everywhere).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "veritas/kernels/gemm_bf16.hpp"
#include "veritas/util/cpu_features.hpp"

using namespace veritas;
using namespace veritas::kernels;

namespace {

// The bf16 value nearest x (ties to even), found by comparing the two truncation
// neighbours — a different rule from the bit trick in gemm_bf16.cpp.
double bf16_exact(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint32_t lo_bits = u & 0xffff0000u, hi_bits = lo_bits + 0x10000u;
  float lo, hi;
  std::memcpy(&lo, &lo_bits, 4);
  std::memcpy(&hi, &hi_bits, 4);
  const double dl = std::fabs((double)x - lo), dh = std::fabs((double)hi - x);
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return ((lo_bits >> 16) & 1) ? hi : lo;
}

struct Case {
  int64_t M, N, K;
  bool a_t, b_t;  // A given as K x M (transposed) / B given as N x K
};

// Checks C = A·B + beta·C0 for one case on the current path.
void check_case(const Case& cs, float beta, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t M = cs.M, N = cs.N, K = cs.K;
  std::vector<float> a((size_t)(M * K)), b((size_t)(K * N)), c((size_t)(M * (N + 3)));
  for (auto& v : a) v = nd(rng);
  for (auto& v : b) v = nd(rng);
  for (auto& v : c) v = nd(rng);
  const int64_t ldc = N + 3;  // a leading dimension wider than N: columns past N stay untouched
  const std::vector<float> c0 = c;
  // A(m,k) and B(k,n) in the layout under test.
  const int64_t a_rs = cs.a_t ? 1 : K, a_cs = cs.a_t ? M : 1;
  const int64_t b_rs = cs.b_t ? 1 : N, b_cs = cs.b_t ? K : 1;
  gemm_bf16(M, N, K, a.data(), a_rs, a_cs, b.data(), b_rs, b_cs, beta, c.data(), ldc);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < ldc; ++n) {
      const float got = c[(size_t)(m * ldc + n)];
      if (n >= N) {
        ASSERT_EQ(got, c0[(size_t)(m * ldc + n)]) << "wrote past N at " << m << "," << n;
        continue;
      }
      long double exact = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const long double p = (long double)bf16_exact(a[(size_t)(m * a_rs + k * a_cs)]) *
                              bf16_exact(b[(size_t)(k * b_rs + n * b_cs)]);
        exact += p;
        mag += std::fabs(p);
      }
      if (beta != 0.0f) {
        exact += c0[(size_t)(m * ldc + n)];
        mag += std::fabs(c0[(size_t)(m * ldc + n)]);
      }
      // fp32 accumulation of K exact products: a random walk of K roundings, each at most
      // 2^-24 of the running sum (<= sum|p|), so 4 * 2^-24 * sqrt(K) * sum|p| holds with a wide
      // margin; unrounded (fp32) inputs would be off by ~2^-9 * sqrt(K) * |p|, far outside it.
      const double tol = 4 * 0x1p-24 * std::sqrt((double)K + 1) * (double)mag + 1e-30;
      ASSERT_NEAR(got, (double)exact, tol) << "M" << M << " N" << N << " K" << K << " at " << m << "," << n;
    }
}

const std::vector<Case> kCases = {
    {1, 1, 1, false, false},   {3, 5, 7, false, true},      {32, 32, 32, false, false}, {33, 31, 65, true, false},
    {64, 96, 128, false, true}, {100, 70, 300, true, false}, {17, 129, 40, false, false}, {128, 64, 1000, false, true},
};

void run_all(uint32_t seed0) {
  uint32_t seed = seed0;
  for (const Case& cs : kCases)
    for (float beta : {0.0f, 1.0f}) check_case(cs, beta, seed++);
}

}  // namespace

TEST(GemmBf16, RoundingMatchesTheNearestBf16) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = bits(rng);
    float x;
    std::memcpy(&x, &u, 4);
    if (!std::isfinite(x) || std::fabs(x) > 3.0e38f) continue;  // near FLT_MAX rounding may overflow to inf
    ASSERT_EQ((double)from_bf16(to_bf16(x)), bf16_exact(x)) << x;
  }
  EXPECT_TRUE(std::isnan(from_bf16(to_bf16(std::nanf("")))));
  EXPECT_EQ(from_bf16(to_bf16(1.0f + 0x1p-8f)), 1.0f);  // a tie: to the even mantissa
  EXPECT_EQ(from_bf16(to_bf16(1.0f + 0x1p-8f + 0x1p-20f)), 1.0f + 0x1p-7f);
}

TEST(GemmBf16, SgemmPathMatchesExactArithmetic) {
  gemm_bf16_limit_path(Bf16Path::sgemm);
  EXPECT_EQ(gemm_bf16_path(), Bf16Path::sgemm);
  run_all(100);
  gemm_bf16_limit_path(Bf16Path::amx);
}

TEST(GemmBf16, Avx512PathMatchesExactArithmetic) {
  gemm_bf16_limit_path(Bf16Path::avx512);
  const bool has = cpu_features().avx512_bf16 && cpu_features().avx512bw && cpu_features().avx512vl;
  std::printf("AVX-512 BF16 here: %s (%s)\n", has ? "yes" : "no, the sgemm path runs", cpu_summary().c_str());
  EXPECT_EQ(gemm_bf16_path(), has ? Bf16Path::avx512 : Bf16Path::sgemm);
  run_all(300);
  gemm_bf16_limit_path(Bf16Path::amx);
}

TEST(GemmBf16, DefaultPathMatchesExactArithmetic) {
  // The widest path the CPU has (the line below says which ran).
  std::printf("gemm_bf16 path: %s (%s)\n", bf16_path_name(gemm_bf16_path()), cpu_summary().c_str());
  if (cpu_features().amx_bf16 && cpu_features().amx_tile) EXPECT_EQ(gemm_bf16_path(), Bf16Path::amx);
  else if (cpu_features().avx512_bf16) EXPECT_EQ(gemm_bf16_path(), Bf16Path::avx512);
  run_all(200);
}
