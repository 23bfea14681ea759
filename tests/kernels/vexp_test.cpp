// The vector exp, sigmoid and max of kernels/vexp against exp in double, on every path
// this CPU can run (scalar always; AVX2 and AVX-512 where present): 16.7 million floats
// spread over the whole bit range, the special values, and every tail length.
#include "veritas/kernels/vexp.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "veritas/util/rng.hpp"

using namespace veritas;
namespace k = veritas::kernels;

namespace {

std::vector<k::VecIsa> runnable_paths() {
  std::vector<k::VecIsa> v{k::VecIsa::scalar};
  if (k::best_vec_isa() != k::VecIsa::scalar) v.push_back(k::VecIsa::avx2);
  if (k::best_vec_isa() == k::VecIsa::avx512) v.push_back(k::VecIsa::avx512);
  return v;
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

constexpr float kInf = std::numeric_limits<float>::infinity();

}  // namespace

TEST(VecExp, WithinTwoUlpOfDoubleOverTheWholeRange) {
  // Every 257th bit pattern: both signs, all exponents, NaNs and infinities included.
  std::vector<float> x;
  for (uint64_t u = 0; u <= 0xffffffffull; u += 257) x.push_back(from_bits((uint32_t)u));
  const float specials[] = {0.0f, -0.0f, kInf, -kInf, 88.7228f, 88.72284f, -87.3365f, -103.97f, -104.0f, 89.0f};
  x.insert(x.end(), std::begin(specials), std::end(specials));
  std::vector<float> y(x.size());
  for (k::VecIsa isa : runnable_paths()) {
    k::exp_shift_sum(isa, y.data(), x.data(), (int64_t)x.size(), 0.0f);  // the sum is inf here: not checked
    double worst_rel = 0, worst_ulp = 0;
    int64_t bad = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double ref = std::exp((double)x[i]);
      bool ok;
      if (std::isnan(x[i])) {
        ok = std::isnan(y[i]);
      } else if (ref >= (double)FLT_MAX) {  // overflows (or rounds to the largest float)
        ok = y[i] == kInf || (double)y[i] >= (double)FLT_MAX * (1 - 3e-7);
      } else if (ref >= (double)FLT_MIN) {  // in ulps of the float binade ref lies in
        const double ulp = std::ldexp(1.0, std::ilogb(ref) - 23);
        const double err = std::fabs((double)y[i] - ref) / ulp;
        worst_rel = std::max(worst_rel, std::fabs((double)y[i] - ref) / ref);
        worst_ulp = std::max(worst_ulp, err);
        ok = err <= 2.0;
      } else {  // denormal or zero result: within one step of the denormal grid
        ok = std::fabs((double)y[i] - ref) <= std::ldexp(1.0, -149);
      }
      if (!ok && bad++ < 5)
        ADD_FAILURE() << k::vec_isa_name(isa) << ": exp(" << x[i] << ") = " << y[i] << ", want " << ref;
    }
    std::printf("%s: %zu values, worst error %.3g ulp, %.3g relative (normal results)\n", k::vec_isa_name(isa),
                x.size(), worst_ulp, worst_rel);
    EXPECT_EQ(bad, 0) << k::vec_isa_name(isa);
    EXPECT_EQ(y[y.size() - 10], 1.0f) << "exp(0)";
    EXPECT_EQ(y[y.size() - 8], kInf) << "exp(inf)";
    EXPECT_EQ(y[y.size() - 7], 0.0f) << "exp(-inf)";
  }
}

TEST(VecExp, ShiftSumEveryTailLengthInPlaceAndSumOnly) {
  Rng rng(7);
  for (k::VecIsa isa : runnable_paths()) {
    for (int n = 1; n <= 70; ++n) {
      std::vector<float> x(n);
      for (auto& v : x) v = (float)(8.0 * rng.normal());
      const float shift = *std::max_element(x.begin(), x.end());
      double ref_sum = 0;
      std::vector<double> ref(n);
      // the kernel subtracts in float, as the scalar code it replaces did
      for (int i = 0; i < n; ++i) ref_sum += (ref[i] = std::exp((double)(x[i] - shift)));
      // sum only: dst == nullptr, and nothing beyond n is read into the sum
      const float s0 = k::exp_shift_sum(isa, nullptr, x.data(), n, shift);
      EXPECT_NEAR(s0, ref_sum, 1e-6 * ref_sum * n) << k::vec_isa_name(isa) << " n=" << n;
      // in place, with a guard value after the row that must survive
      std::vector<float> buf(x);
      buf.push_back(-123.0f);
      const float s1 = k::exp_shift_sum(isa, buf.data(), buf.data(), n, shift);
      EXPECT_EQ(s0, s1);
      EXPECT_EQ(buf[n], -123.0f) << "wrote past the row";
      for (int i = 0; i < n; ++i) EXPECT_NEAR(buf[i], ref[i], 3e-7 * ref[i] + 1e-38) << i;
    }
  }
}

TEST(VecExp, SigmoidMatchesDouble) {
  std::vector<float> x;
  for (float v = -110.0f; v <= 110.0f; v += 0.0137f) x.push_back(v);
  x.insert(x.end(), {kInf, -kInf, 0.0f, std::nanf("")});
  for (k::VecIsa isa : runnable_paths()) {
    for (int64_t n : {(int64_t)x.size(), (int64_t)x.size() - 3, (int64_t)5}) {  // several tails
      std::vector<float> y(x.size() + 1, -7.0f);
      k::sigmoid(isa, y.data(), x.data(), n);
      EXPECT_EQ(y[n], -7.0f) << "wrote past the row";
      for (int64_t i = 0; i < n; ++i) {
        if (std::isnan(x[i])) {
          EXPECT_TRUE(std::isnan(y[i]));
          continue;
        }
        const double ref = 1.0 / (1.0 + std::exp(-(double)x[i]));
        ASSERT_NEAR(y[i], ref, 4e-7 * ref + FLT_MIN) << k::vec_isa_name(isa) << " x=" << x[i];
      }
    }
  }
}

TEST(VecExp, MaxOfEveryLength) {
  Rng rng(11);
  for (k::VecIsa isa : runnable_paths()) {
    for (int n = 1; n <= 70; ++n) {
      std::vector<float> x(n);
      for (auto& v : x) v = (float)(rng.normal() - 50.0);  // all negative: the padding must not win
      EXPECT_EQ(k::max_of(isa, x.data(), n), *std::max_element(x.begin(), x.end())) << k::vec_isa_name(isa);
      x[n - 1] = 1e30f;  // the last (tail) element
      EXPECT_EQ(k::max_of(isa, x.data(), n), 1e30f);
    }
  }
}
