#include "veritas/kernels/optimizer.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "veritas/util/thread_pool.hpp"

namespace veritas::kernels {

namespace {
// Runs fn over [0, n) on the pool when the tensor is big enough to pay for the wake-up.
void for_range(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n < (1 << 16)) fn(0, n);
  else ThreadPool::global().parallel_for(n, fn);
}
}  // namespace

// Updates elements [b, e) of one tensor. The operations and their order are those of
// torch.optim.AdamW on CPU (scale, then a fused multiply-add; the final subtraction fused
// with the product), so the two agree bit for bit (tests/train/adamw_torch.py). The AVX2
// lanes use the same IEEE operations (sqrt and division are correctly rounded in both), so
// the vector and scalar paths give identical results.
void adamw_range(float* w, const float* g, float* m, float* v, int64_t b, int64_t e, float decay,
                 const AdamWScalars& s) {
  int64_t k = b;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 vb1 = _mm256_set1_ps(s.b1), vb2 = _mm256_set1_ps(s.b2);
  const __m256 vomb1 = _mm256_set1_ps(s.omb1), vomb2 = _mm256_set1_ps(s.omb2);
  const __m256 veps = _mm256_set1_ps(s.eps), vbc2 = _mm256_set1_ps(s.bc2_sqrt);
  const __m256 vstep = _mm256_set1_ps(s.step_size), vdecay = _mm256_set1_ps(decay);
  for (; k + 8 <= e; k += 8) {
    const __m256 gk = _mm256_loadu_ps(g + k);
    const __m256 wk = _mm256_mul_ps(_mm256_loadu_ps(w + k), vdecay);
    const __m256 mk = _mm256_fmadd_ps(vomb1, gk, _mm256_mul_ps(_mm256_loadu_ps(m + k), vb1));
    const __m256 vk = _mm256_fmadd_ps(_mm256_mul_ps(vomb2, gk), gk, _mm256_mul_ps(_mm256_loadu_ps(v + k), vb2));
    _mm256_storeu_ps(m + k, mk);
    _mm256_storeu_ps(v + k, vk);
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vk), vbc2), veps);
    _mm256_storeu_ps(w + k, _mm256_fnmadd_ps(vstep, _mm256_div_ps(mk, denom), wk));
  }
#endif
  for (; k < e; ++k) {
    const float gk = g[k];
    const float wk = w[k] * decay;
    const float mk = std::fma(s.omb1, gk, m[k] * s.b1);
    const float vk = std::fma(s.omb2 * gk, gk, v[k] * s.b2);
    m[k] = mk;
    v[k] = vk;
    const float denom = std::sqrt(vk) / s.bc2_sqrt + s.eps;
    w[k] = std::fma(-s.step_size, mk / denom, wk);
  }
}

AdamWScalars adamw_scalars(double beta1, double beta2, double eps, float lr, int64_t t) {
  const double bc1 = 1.0 - std::pow(beta1, (double)t);
  const double bc2 = 1.0 - std::pow(beta2, (double)t);
  AdamWScalars s;
  s.step_size = (float)((double)lr / bc1);
  s.bc2_sqrt = (float)std::sqrt(bc2);
  s.b1 = (float)beta1, s.b2 = (float)beta2, s.eps = (float)eps;
  s.omb1 = (float)(1.0 - beta1), s.omb2 = (float)(1.0 - beta2);
  return s;
}

void adamw_update(float* w, const float* g, float* m, float* v, int64_t n, bool decay, float lr, double beta1,
                  double beta2, double eps, double weight_decay, int64_t t) {
  const AdamWScalars s = adamw_scalars(beta1, beta2, eps, lr, t);
  const float d = decay ? (float)(1.0 - (double)lr * weight_decay) : 1.0f;
  for_range(n, [&](int64_t b, int64_t e) { adamw_range(w, g, m, v, b, e, d, s); });
}

double sum_squares(const float* x, int64_t n) {
  constexpr int64_t kBlock = 1 << 14;
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial((size_t)nblocks, 0.0);
  auto body = [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      double s = 0.0;
      const int64_t lo = blk * kBlock, hi = std::min(n, lo + kBlock);
      for (int64_t k = lo; k < hi; ++k) s += (double)x[k] * (double)x[k];
      partial[(size_t)blk] = s;
    }
  };
  if (nblocks > 4) ThreadPool::global().parallel_for(nblocks, body);
  else body(0, nblocks);
  double total = 0.0;
  for (double s : partial) total += s;  // fixed order: thread-count independent
  return total;
}

void scale(float* x, int64_t n, float s) {
  for_range(n, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) x[k] *= s;
  });
}

}  // namespace veritas::kernels
