#include "veritas/kernels/kernels.hpp"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "veritas/kernels/gemm_bf16.hpp"
#include "veritas/kernels/vexp.hpp"
#include "veritas/util/thread_pool.hpp"

namespace veritas::kernels {

namespace {
// Splits [0, n) into one contiguous chunk per pool thread.
template <class F>
void parallel_rows(int64_t n, F&& fn) {
  ThreadPool::global().parallel_for(n, [&](int64_t b, int64_t e) { fn(b, e); });
}
// Runs fn over [0, n) in parallel with OpenBLAS single-threaded inside (the parallelism
// is ours), restoring its thread count afterwards.
template <class F>
void parallel_blas(int64_t n, F&& fn) {
  const int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  ThreadPool::global().parallel_for(n, [&](int64_t b, int64_t e) { fn(b, e); });
  openblas_set_num_threads(blas_threads);
}

float* thread_scratch(size_t n) {
  // Grows on the first step only; reused afterwards (no allocation in a steady step).
  static thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}
}  // namespace

void set_cpu_threads(int threads) {
  if (threads <= 0) return;
  ThreadPool::set_global_threads(threads);
  openblas_set_num_threads(threads);
}

// ---------------------------------------------------------------- matmul (Linear, no bias)

namespace {
std::atomic<bool> g_matmul_bf16{false};
}  // namespace

void set_matmul_bf16(bool on) { g_matmul_bf16.store(on, std::memory_order_relaxed); }
bool matmul_bf16() { return g_matmul_bf16.load(std::memory_order_relaxed); }

// C[M, N] = op(A) op(B) + beta C (row-major) with the rows of C split over the thread
// pool and OpenBLAS single-threaded inside each part. OpenBLAS's own worker threads
// spin (sched_yield) for a long while after every call and so compete with the pool's
// threads for the cores during the elementwise kernels: a SMALL training step ran 7%
// slower with them (bench_train_veritas, 2 cores).
namespace {
void sgemm_rows(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int N, int K, const float* A, int lda,
                const float* B, int ldb, float beta, float* C, int ldc) {
  parallel_blas(M, [&](int64_t b, int64_t e) {
    const float* Ab = ta == CblasNoTrans ? A + b * lda : A + b;
    cblas_sgemm(CblasRowMajor, ta, tb, (int)(e - b), N, K, 1.0f, Ab, lda, B, ldb, beta, C + b * ldc, ldc);
  });
}
}  // namespace

void matmul_forward(float* out, const float* inp, const float* w, int64_t N, int C, int OC, bool accumulate) {
  if (matmul_bf16())  // A = inp [N, C], B(k, n) = w[n, k]
    return gemm_bf16(N, OC, C, inp, C, 1, w, 1, C, accumulate ? 1.0f : 0.0f, out, OC);
  sgemm_rows(CblasNoTrans, CblasTrans, N, OC, C, inp, C, w, C, accumulate ? 1.0f : 0.0f, out, OC);
}

void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, int64_t N, int C,
                     int OC, bool accumulate_dinp) {
  if (matmul_bf16()) {
    if (dinp) gemm_bf16(N, C, OC, dout, OC, 1, w, C, 1, accumulate_dinp ? 1.0f : 0.0f, dinp, C);
    if (dw) gemm_bf16(OC, C, N, dout, 1, OC, inp, C, 1, 1.0f, dw, C);  // A(m, k) = dout[k, m]
    return;
  }
  if (dinp) sgemm_rows(CblasNoTrans, CblasNoTrans, N, C, OC, dout, OC, w, C, accumulate_dinp ? 1.0f : 0.0f, dinp, C);
  if (dw) sgemm_rows(CblasTrans, CblasNoTrans, OC, C, (int)N, dout, OC, inp, C, 1.0f, dw, C);
}

// ---------------------------------------------------------------- embedding

void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t N, int C) {
  for (int64_t n = 0; n < N; ++n) std::memcpy(out + n * C, table + (int64_t)tokens[n] * C, sizeof(float) * C);
}

void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t N, int C) {
  // Serial: two tokens may share a row.
  for (int64_t n = 0; n < N; ++n) {
    float* d = dtable + (int64_t)tokens[n] * C;
    const float* g = dout + n * C;
    for (int c = 0; c < C; ++c) d[c] += g[c];
  }
}

// ---------------------------------------------------------------- RMSNorm

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N, int C, float eps) {
  parallel_rows(N, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const float* x = inp + n * C;
      float ss = 0;
      for (int c = 0; c < C; ++c) ss += x[c] * x[c];
      float r = 1.0f / std::sqrt(ss / C + eps);
      rstd[n] = r;
      float* o = out + n * C;
      for (int c = 0; c < C; ++c) o[c] = x[c] * r * w[c];
    }
  });
}

void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                      const float* rstd, int64_t N, int C) {
  // y = x r w, r = (mean(x^2) + eps)^-1/2:
  // dx = r (w dy) - r^3 / C * x * sum(w dy x);  dw = sum_n dy x r.
  parallel_rows(N, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const float* x = inp + n * C;
      const float* dy = dout + n * C;
      const float r = rstd[n];
      float dot = 0;
      for (int c = 0; c < C; ++c) dot += w[c] * dy[c] * x[c];
      const float k = r * r * r * dot / C;
      float* dx = dinp + n * C;
      for (int c = 0; c < C; ++c) dx[c] += r * w[c] * dy[c] - k * x[c];
    }
  });
  // The weight gradient reduces over rows; split over columns so threads never share.
  parallel_rows(C, [&](int64_t cb, int64_t ce) {
    for (int64_t n = 0; n < N; ++n) {
      const float* x = inp + n * C;
      const float* dy = dout + n * C;
      const float r = rstd[n];
      for (int64_t c = cb; c < ce; ++c) dw[c] += dy[c] * x[c] * r;
    }
  });
}

// ---------------------------------------------------------------- RoPE

void rope_tables(float* cos_t, float* sin_t, int max_seq, int head_dim, float theta) {
  const int half = head_dim / 2;
  for (int i = 0; i < half; ++i) {
    // Same inverse frequency as HF Llama: theta^(-2i/d), computed in float like it does.
    const float inv = 1.0f / std::pow(theta, (float)(2 * i) / (float)head_dim);
    for (int p = 0; p < max_seq; ++p) {
      const float a = (float)p * inv;
      cos_t[(int64_t)p * half + i] = std::cos(a);
      sin_t[(int64_t)p * half + i] = std::sin(a);
    }
  }
}

namespace {
void rope_apply(float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int hd, float sign,
                int64_t C) {
  const int half = hd / 2;
  parallel_rows((int64_t)B * T, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const int t = (int)(n % T);
      const float* cs = cos_t + (int64_t)t * half;
      const float* sn = sin_t + (int64_t)t * half;
      for (int h = 0; h < n_heads; ++h) {
        float* v = x + n * C + (int64_t)h * hd;
        for (int i = 0; i < half; ++i) {
          const float a = v[i], bb = v[i + half], c = cs[i], s = sign * sn[i];
          v[i] = a * c - bb * s;         // x1 cos - x2 sin
          v[i + half] = bb * c + a * s;  // x2 cos + x1 sin
        }
      }
    }
  });
}
}  // namespace

void rope_forward(float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                  int64_t row_stride) {
  rope_apply(x, cos_t, sin_t, B, T, n_heads, head_dim, 1.0f, row_stride);
}
void rope_backward(float* dx, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                   int64_t row_stride) {
  rope_apply(dx, cos_t, sin_t, B, T, n_heads, head_dim, -1.0f, row_stride);
}

// ---------------------------------------------------------------- attention
//
// Per (batch, head) the work is matrix products (QK^T, PV and their gradients), done with
// single-threaded sgemm calls while the heads run in parallel on the thread pool. Rows
// are processed in blocks of kBlock queries so that keys after the block's last query
// (masked by causality) are never computed.

namespace {
constexpr int kBlock = 64;
}  // namespace

void attention_forward(float* out, float* probs, const float* qkv, int B, int T, int H, int KVH, int hd) {
  const int64_t C = (int64_t)H * hd, KC = (int64_t)KVH * hd, LD = C + 2 * KC;
  const float *q = qkv, *k = qkv + C, *v = qkv + C + KC;
  const int group = H / KVH;
  const float scale = 1.0f / std::sqrt((float)hd);
  parallel_blas((int64_t)B * H, [&](int64_t tb, int64_t te) {
    for (int64_t task = tb; task < te; ++task) {
      const int b = (int)(task / H), h = (int)(task % H), kh = h / group;
      const float* Q = q + (int64_t)b * T * LD + (int64_t)h * hd;
      const float* K = k + (int64_t)b * T * LD + (int64_t)kh * hd;
      const float* Vv = v + (int64_t)b * T * LD + (int64_t)kh * hd;
      float* O = out + (int64_t)b * T * C + (int64_t)h * hd;
      float* P = probs + ((int64_t)b * H + h) * T * T;
      for (int r0 = 0; r0 < T; r0 += kBlock) {
        const int r1 = std::min(T, r0 + kBlock), rb = r1 - r0;
        // S[r0:r1, 0:r1] = scale * Q[r0:r1] K[0:r1]^T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rb, r1, hd, scale, Q + r0 * LD, (int)LD, K, (int)LD,
                    0.0f, P + (int64_t)r0 * T, T);
        for (int t = r0; t < r1; ++t) {
          float* p = P + (int64_t)t * T;
          const float inv = 1.0f / exp_shift_sum(p, p, t + 1, max_of(p, t + 1));
          for (int j = 0; j <= t; ++j) p[j] *= inv;
          for (int j = t + 1; j < T; ++j) p[j] = 0.0f;
        }
        // O[r0:r1] = P[r0:r1, 0:r1] V[0:r1]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rb, hd, r1, 1.0f, P + (int64_t)r0 * T, T, Vv, (int)LD,
                    0.0f, O + r0 * C, (int)C);
      }
    }
  });
}

void attention_backward(float* dqkv, float* probs, const float* dout, const float* out, const float* qkv, int B, int T,
                        int H, int KVH, int hd) {
  const int64_t C = (int64_t)H * hd, KC = (int64_t)KVH * hd, LD = C + 2 * KC;
  const float *q = qkv, *k = qkv + C, *v = qkv + C + KC;
  float *dq = dqkv, *dk = dqkv + C, *dv = dqkv + C + KC;
  const int group = H / KVH;
  const float scale = 1.0f / std::sqrt((float)hd);
  // One task per (batch, kv head): the heads sharing a kv head add into the same dk/dv.
  parallel_blas((int64_t)B * KVH, [&](int64_t tb, int64_t te) {
    float* dP = thread_scratch((size_t)kBlock * T);
    for (int64_t task = tb; task < te; ++task) {
      const int b = (int)(task / KVH), kh = (int)(task % KVH);
      const float* K = k + (int64_t)b * T * LD + (int64_t)kh * hd;
      const float* Vv = v + (int64_t)b * T * LD + (int64_t)kh * hd;
      float* dK = dk + (int64_t)b * T * LD + (int64_t)kh * hd;
      float* dV = dv + (int64_t)b * T * LD + (int64_t)kh * hd;
      for (int t = 0; t < T; ++t) {
        std::memset(dK + t * LD, 0, sizeof(float) * hd);
        std::memset(dV + t * LD, 0, sizeof(float) * hd);
      }
      for (int h = kh * group; h < (kh + 1) * group; ++h) {
        const float* Q = q + (int64_t)b * T * LD + (int64_t)h * hd;
        const float* O = out + (int64_t)b * T * C + (int64_t)h * hd;
        const float* dO = dout + (int64_t)b * T * C + (int64_t)h * hd;
        float* dQ = dq + (int64_t)b * T * LD + (int64_t)h * hd;
        float* P = probs + ((int64_t)b * H + h) * T * T;
        for (int r0 = 0; r0 < T; r0 += kBlock) {
          const int r1 = std::min(T, r0 + kBlock), rb = r1 - r0;
          float* Pb = P + (int64_t)r0 * T;
          // dV[0:r1] += P[r0:r1, 0:r1]^T dO[r0:r1]
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd, rb, 1.0f, Pb, T, dO + r0 * C, (int)C, 1.0f,
                      dV, (int)LD);
          // dP = dO[r0:r1] V[0:r1]^T
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rb, r1, hd, 1.0f, dO + r0 * C, (int)C, Vv, (int)LD,
                      0.0f, dP, r1);
          // dS = P (dP - D) * scale with D_t = sum_j P_tj dP_tj = dO_t . O_t; written over P.
          for (int t = r0; t < r1; ++t) {
            const float* dot_ = dO + t * C;
            const float* ot = O + t * C;
            float D = 0;
            for (int d = 0; d < hd; ++d) D += dot_[d] * ot[d];
            float* p = P + (int64_t)t * T;
            const float* dp = dP + (int64_t)(t - r0) * r1;
            for (int j = 0; j < r1; ++j) p[j] = j <= t ? p[j] * (dp[j] - D) * scale : 0.0f;
          }
          // dQ[r0:r1] = dS K[0:r1];  dK[0:r1] += dS^T Q[r0:r1]
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rb, hd, r1, 1.0f, Pb, T, K, (int)LD, 0.0f,
                      dQ + r0 * LD, (int)LD);
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd, rb, 1.0f, Pb, T, Q + r0 * LD, (int)LD, 1.0f, dK,
                      (int)LD);
        }
      }
    }
  });
}

// ---------------------------------------------------------------- SwiGLU

void swiglu_forward(float* out, const float* gu, int64_t N, int I) {
  parallel_rows(N, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const float* g = gu + n * 2 * I;
      const float* u = g + I;
      float* o = out + n * I;
      sigmoid(o, g, I);
      for (int i = 0; i < I; ++i) o[i] *= g[i] * u[i];
    }
  });
}

void swiglu_backward(float* dgu, const float* dout, const float* gu, int64_t N, int I) {
  parallel_rows(N, [&](int64_t b, int64_t e) {
    float* sg = thread_scratch((size_t)I);
    for (int64_t n = b; n < e; ++n) {
      const float* g = gu + n * 2 * I;
      const float* u = g + I;
      float* dg = dgu + n * 2 * I;
      float* du = dg + I;
      const float* dy = dout + n * I;
      sigmoid(sg, g, I);
      for (int i = 0; i < I; ++i) {
        const float gi = g[i], ui = u[i];
        const float sig = sg[i];
        dg[i] = dy[i] * ui * sig * (1.0f + gi * (1.0f - sig));
        du[i] = dy[i] * gi * sig;
      }
    }
  });
}

// ---------------------------------------------------------------- cross-entropy

float cross_entropy_forward(float* lse, const float* logits, const int32_t* targets, const float* mask, int64_t N,
                            int V) {
  parallel_rows(N, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      if (mask && mask[n] == 0.0f) {
        lse[n] = 0.0f;
        continue;
      }
      const float* l = logits + n * V;
      const float mx = max_of(l, V);
      lse[n] = mx + std::log(exp_shift_sum(nullptr, l, V, mx));
    }
  });
  double num = 0, den = 0;
  for (int64_t n = 0; n < N; ++n) {
    const double m = mask ? mask[n] : 1.0;
    if (m == 0.0) continue;
    num += m * (lse[n] - logits[n * V + targets[n]]);
    den += m;
  }
  return den == 0.0 ? 0.0f : (float)(num / den);
}

// Row n of dlogits = w(n) * (softmax(logits[n]) - onehot(targets[n])), the gradient of
// -w(n) * log p(target); rows with w(n) = 0 are zeroed. Shared by the cross-entropy and
// the log-probability backward passes, which differ only in the weight.
template <class Weight>
void softmax_minus_target(float* dlogits, const float* logits, const float* lse, const int32_t* targets, int64_t N,
                          int V, Weight weight) {
  parallel_rows(N, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const float w = weight(n);
      const float* l = logits + n * V;
      float* d = dlogits + n * V;
      if (w == 0.0f) {
        std::memset(d, 0, sizeof(float) * V);
        continue;
      }
      exp_shift_sum(d, l, V, lse[n]);
      for (int i = 0; i < V; ++i) d[i] *= w;
      d[targets[n]] -= w;
    }
  });
}

void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            const float* mask, int64_t N, int V, float scale) {
  double den = 0;
  for (int64_t n = 0; n < N; ++n) den += mask ? mask[n] : 1.0;
  const float inv = den == 0.0 ? 0.0f : (float)(1.0 / den);
  softmax_minus_target(dlogits, logits, lse, targets, N, V,
                       [&](int64_t n) { return (mask ? mask[n] : 1.0f) * inv * scale; });
}

float cross_entropy_fused(float* logits, float* row_loss, const int32_t* targets, const float* mask, int64_t N, int V,
                          float scale) {
  double den = 0;
  for (int64_t n = 0; n < N; ++n) den += mask ? mask[n] : 1.0;
  const float inv = den == 0.0 ? 0.0f : (float)(1.0 / den);
  parallel_rows(N, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      float* l = logits + n * V;
      const float w = (mask ? mask[n] : 1.0f) * inv * scale;
      if (mask && mask[n] == 0.0f) {
        row_loss[n] = 0.0f;
        std::memset(l, 0, sizeof(float) * V);
        continue;
      }
      const float mx = max_of(l, V);
      const float target_logit = l[targets[n]];
      const float s = exp_shift_sum(l, l, V, mx);
      row_loss[n] = mx + std::log(s) - target_logit;
      const float k = w / s;
      for (int i = 0; i < V; ++i) l[i] *= k;
      l[targets[n]] -= w;
    }
  });
  if (den == 0.0) return 0.0f;
  double num = 0;
  for (int64_t n = 0; n < N; ++n) num += (mask ? (double)mask[n] : 1.0) * row_loss[n];
  return (float)(num / den);
}

void target_logprobs(float* logp, const float* logits, const float* lse, const int32_t* targets, int64_t N, int V) {
  for (int64_t n = 0; n < N; ++n) logp[n] = logits[n * V + targets[n]] - lse[n];
}

void logprob_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                      const float* dlogp, int64_t N, int V) {
  // d logp / d logits = onehot - softmax: the shared form with weight -dlogp.
  softmax_minus_target(dlogits, logits, lse, targets, N, V, [&](int64_t n) { return -dlogp[n]; });
}

}  // namespace veritas::kernels
