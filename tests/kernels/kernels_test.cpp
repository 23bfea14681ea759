// Finite-difference checks of every kernel's backward against its own forward:
// L = sum(out * R) for a fixed random R, so dL/dout = R, and each analytic input
// gradient is compared with central differences (inputs perturbed in float, L summed
// in double). Error = max |fd - analytic| / max |analytic| over the checked entries.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

#include "veritas/kernels/kernels.hpp"
#include "veritas/util/rng.hpp"

using namespace veritas;
namespace k = veritas::kernels;

namespace {

std::vector<float> randn(size_t n, uint64_t seed, double scale = 1.0) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = (float)(scale * r.normal());
  return v;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double)a[i] * b[i];
  return s;
}

// Compares analytic[i] with (L(x + eps e_i) - L(x - eps e_i)) / 2eps for every i.
double fd_error(std::vector<float>& x, const std::vector<float>& analytic, const std::function<double()>& L,
                float eps = 1e-2f) {
  double num = 0, den = 1e-12;
  for (size_t i = 0; i < x.size(); ++i) {
    const float orig = x[i];
    x[i] = orig + eps;
    const double lp = L();
    x[i] = orig - eps;
    const double lm = L();
    x[i] = orig;
    // the perturbation actually applied in float
    const double fd = (lp - lm) / ((double)(orig + eps) - (double)(orig - eps));
    num = std::max(num, std::fabs(fd - analytic[i]));
    den = std::max(den, std::fabs((double)analytic[i]));
  }
  return num / den;
}

constexpr double kTol = 5e-3;

}  // namespace

TEST(KernelGrad, Matmul) {
  const int N = 6, C = 5, OC = 7;
  auto x = randn(N * C, 1), w = randn(OC * C, 2), R = randn(N * OC, 3);
  std::vector<float> out(N * OC);
  auto L = [&] {
    k::matmul_forward(out.data(), x.data(), w.data(), N, C, OC);
    return dot(out, R);
  };
  // Gradients are added on top of what is there: start from 1 and subtract it.
  std::vector<float> dx(N * C, 1.0f), dw(OC * C, 1.0f);
  k::matmul_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), N, C, OC, true);
  for (auto& v : dx) v -= 1.0f;
  for (auto& v : dw) v -= 1.0f;
  double ex = fd_error(x, dx, L), ew = fd_error(w, dw, L);
  std::printf("matmul: dinp %.1e, dw %.1e\n", ex, ew);
  EXPECT_LT(ex, kTol);
  EXPECT_LT(ew, kTol);
  // Without accumulate_dinp the input gradient is overwritten.
  std::vector<float> dx2(N * C, 5.0f);
  k::matmul_backward(dx2.data(), nullptr, R.data(), x.data(), w.data(), N, C, OC, false);
  for (int i = 0; i < N * C; ++i) EXPECT_NEAR(dx2[i], dx[i], 1e-5);
}

TEST(KernelGrad, Embedding) {
  const int N = 7, C = 4, V = 5;
  std::vector<int32_t> tok = {0, 3, 3, 1, 4, 0, 3};
  auto table = randn(V * C, 4), R = randn(N * C, 5);
  std::vector<float> out(N * C);
  auto L = [&] {
    k::embedding_forward(out.data(), tok.data(), table.data(), N, C);
    return dot(out, R);
  };
  std::vector<float> dt(V * C, 0.0f);
  k::embedding_backward(dt.data(), R.data(), tok.data(), N, C);
  double e = fd_error(table, dt, L);
  std::printf("embedding: dtable %.1e\n", e);
  EXPECT_LT(e, kTol);
}

TEST(KernelGrad, RmsNorm) {
  const int N = 5, C = 16;
  auto x = randn(N * C, 6), w = randn(C, 7), R = randn(N * C, 8);
  for (auto& v : w) v += 1.0f;
  std::vector<float> out(N * C), rstd(N);
  auto L = [&] {
    k::rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f);
    return dot(out, R);
  };
  L();
  // Against a direct double-precision evaluation of the forward.
  for (int n = 0; n < N; ++n) {
    double ss = 0;
    for (int c = 0; c < C; ++c) ss += (double)x[n * C + c] * x[n * C + c];
    double r = 1.0 / std::sqrt(ss / C + 1e-5);
    for (int c = 0; c < C; ++c) EXPECT_NEAR(out[n * C + c], x[n * C + c] * r * w[c], 1e-5);
  }
  std::vector<float> dx(N * C, 0.0f), dw(C, 0.0f);
  k::rmsnorm_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), rstd.data(), N, C);
  double ex = fd_error(x, dx, L, 1e-3f), ew = fd_error(w, dw, L, 1e-3f);
  std::printf("rmsnorm: dinp %.1e, dw %.1e\n", ex, ew);
  EXPECT_LT(ex, kTol);
  EXPECT_LT(ew, kTol);
}

TEST(KernelGrad, Rope) {
  const int B = 2, T = 5, H = 3, hd = 8;
  std::vector<float> cs(T * hd / 2), sn(T * hd / 2);
  k::rope_tables(cs.data(), sn.data(), T, hd, 10000.0f);
  auto x = randn(B * T * H * hd, 9), R = randn(B * T * H * hd, 10);
  std::vector<float> out;
  auto L = [&] {
    out = x;
    k::rope_forward(out.data(), cs.data(), sn.data(), B, T, H, hd, H * hd);
    return dot(out, R);
  };
  L();
  // rotate_half layout: element i pairs with i + hd/2, angle t * 10000^(-2i/hd).
  {
    const int t = 3, h = 1, i = 2;
    const double a = t * std::pow(10000.0, -2.0 * i / hd);
    const float* v = x.data() + ((0 * T + t) * H + h) * hd;
    EXPECT_NEAR(out[((0 * T + t) * H + h) * hd + i], v[i] * std::cos(a) - v[i + hd / 2] * std::sin(a), 1e-5);
    EXPECT_NEAR(out[((0 * T + t) * H + h) * hd + i + hd / 2], v[i + hd / 2] * std::cos(a) + v[i] * std::sin(a),
                1e-5);
  }
  std::vector<float> dx = R;
  k::rope_backward(dx.data(), cs.data(), sn.data(), B, T, H, hd, H * hd);
  double e = fd_error(x, dx, L);
  std::printf("rope: dx %.1e\n", e);
  EXPECT_LT(e, kTol);
}

namespace {
void check_attention(int B, int T, int H, int KVH, int hd) {
  const int C = H * hd, KC = KVH * hd, LD = C + 2 * KC, group = H / KVH;
  auto qkv = randn((size_t)B * T * LD, 11), R = randn((size_t)B * T * C, 14);
  auto q = [&](int n, int h, int i) { return (double)qkv[(size_t)n * LD + h * hd + i]; };
  auto kk = [&](int n, int h, int i) { return (double)qkv[(size_t)n * LD + C + h * hd + i]; };
  auto v = [&](int n, int h, int i) { return (double)qkv[(size_t)n * LD + C + KC + h * hd + i]; };
  std::vector<float> out((size_t)B * T * C), probs((size_t)B * H * T * T);
  auto L = [&] {
    k::attention_forward(out.data(), probs.data(), qkv.data(), B, T, H, KVH, hd);
    return dot(out, R);
  };
  L();
  // Forward against a direct evaluation: causal softmax(q.k / sqrt(hd)) v, head h uses kv head h / group.
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int t = 0; t < T; ++t) {
        std::vector<double> s(t + 1);
        double mx = -1e30, sum = 0;
        for (int j = 0; j <= t; ++j) {
          double d = 0;
          for (int i = 0; i < hd; ++i) d += q(b * T + t, h, i) * kk(b * T + j, h / group, i);
          s[j] = d / std::sqrt((double)hd);
          mx = std::max(mx, s[j]);
        }
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (int i = 0; i < hd; ++i) {
          double o = 0;
          for (int j = 0; j <= t; ++j) o += s[j] / sum * v(b * T + j, h / group, i);
          EXPECT_NEAR(out[(b * T + t) * C + h * hd + i], o, 1e-5);
        }
      }
  std::vector<float> dqkv(qkv.size(), 9.0f);
  L();
  k::attention_backward(dqkv.data(), probs.data(), R.data(), out.data(), qkv.data(), B, T, H, KVH, hd);
  // Split the check into the q, k and v columns.
  double e[3] = {0, 0, 0}, m[3] = {1e-12, 1e-12, 1e-12};
  const float eps = 1e-2f;
  for (size_t idx = 0; idx < qkv.size(); ++idx) {
    const int col = (int)(idx % LD), part = col < C ? 0 : (col < C + KC ? 1 : 2);
    const float orig = qkv[idx];
    qkv[idx] = orig + eps;
    const double lp = L();
    qkv[idx] = orig - eps;
    const double lm = L();
    qkv[idx] = orig;
    const double fd = (lp - lm) / ((double)(orig + eps) - (double)(orig - eps));
    e[part] = std::max(e[part], std::fabs(fd - dqkv[idx]));
    m[part] = std::max(m[part], std::fabs((double)dqkv[idx]));
  }
  const double eq = e[0] / m[0], ek = e[1] / m[1], ev = e[2] / m[2];
  std::printf("attention (B %d, T %d, heads %d/%d, hd %d): dq %.1e, dk %.1e, dv %.1e\n", B, T, H, KVH, hd, eq, ek, ev);
  EXPECT_LT(eq, kTol);
  EXPECT_LT(ek, kTol);
  EXPECT_LT(ev, kTol);
}
}  // namespace

TEST(KernelGrad, AttentionGqa) { check_attention(2, 5, 4, 2, 4); }
// Longer than one 64-query block: exercises the blocked causal path.
TEST(KernelGrad, AttentionMultiBlock) { check_attention(1, 70, 2, 1, 4); }

TEST(KernelGrad, SwiGlu) {
  const int N = 5, I = 7;  // rows of gate | up
  auto gu = randn(N * 2 * I, 15, 2.0), R = randn(N * I, 17);
  std::vector<float> out(N * I);
  auto L = [&] {
    k::swiglu_forward(out.data(), gu.data(), N, I);
    return dot(out, R);
  };
  L();
  for (int n = 0; n < N; ++n)
    for (int i = 0; i < I; ++i) {
      const double g = gu[n * 2 * I + i], u = gu[n * 2 * I + I + i];
      EXPECT_NEAR(out[n * I + i], g / (1 + std::exp(-g)) * u, 1e-5);
    }
  std::vector<float> dgu(gu.size());
  k::swiglu_backward(dgu.data(), R.data(), gu.data(), N, I);
  double e = fd_error(gu, dgu, L, 1e-3f);
  std::printf("swiglu: dgate|dup %.1e\n", e);
  EXPECT_LT(e, kTol);
  // In place (dgu aliasing gu) gives the same result.
  auto g2 = gu;
  k::swiglu_backward(g2.data(), R.data(), g2.data(), N, I);
  EXPECT_EQ(g2, dgu);
}

TEST(KernelGrad, CrossEntropyMasked) {
  const int N = 6, V = 9;
  auto logits = randn(N * V, 18, 2.0);
  std::vector<int32_t> tg = {1, 8, 0, -1, 4, 4};  // row 3 is masked out
  std::vector<float> mask = {1.0f, 0.5f, 2.0f, 0.0f, 1.0f, 0.25f}, lse(N);
  auto L = [&] { return (double)k::cross_entropy_forward(lse.data(), logits.data(), tg.data(), mask.data(), N, V); };
  // Direct evaluation.
  double num = 0, den = 0;
  for (int n = 0; n < N; ++n) {
    if (mask[n] == 0) continue;
    double mx = -1e30, s = 0;
    for (int v = 0; v < V; ++v) mx = std::max(mx, (double)logits[n * V + v]);
    for (int v = 0; v < V; ++v) s += std::exp(logits[n * V + v] - mx);
    num += mask[n] * (mx + std::log(s) - logits[n * V + tg[n]]);
    den += mask[n];
  }
  EXPECT_NEAR(L(), num / den, 1e-5);
  const float scale = 0.5f;
  std::vector<float> d = logits;
  k::cross_entropy_backward(d.data(), d.data(), lse.data(), tg.data(), mask.data(), N, V, scale);
  for (auto& x : d) x /= scale;
  double e = fd_error(logits, d, L, 1e-3f);
  std::printf("cross-entropy (masked): dlogits %.1e\n", e);
  EXPECT_LT(e, kTol);
  // The fused training kernel gives the same loss and gradient.
  std::vector<float> fused = logits, rows(N);
  const float lf = k::cross_entropy_fused(fused.data(), rows.data(), tg.data(), mask.data(), N, V, scale);
  EXPECT_NEAR(lf, L(), 1e-6);
  for (int i = 0; i < N * V; ++i) EXPECT_NEAR(fused[i] / scale, d[i], 1e-6);
  // All-zero mask: loss 0 and no gradient.
  std::vector<float> zero(N, 0.0f);
  EXPECT_EQ(k::cross_entropy_forward(lse.data(), logits.data(), tg.data(), zero.data(), N, V), 0.0f);
  k::cross_entropy_backward(d.data(), logits.data(), lse.data(), tg.data(), zero.data(), N, V, 1.0f);
  for (auto x : d) EXPECT_EQ(x, 0.0f);
  fused = logits;
  EXPECT_EQ(k::cross_entropy_fused(fused.data(), rows.data(), tg.data(), zero.data(), N, V, 1.0f), 0.0f);
  for (auto x : fused) EXPECT_EQ(x, 0.0f);
}
