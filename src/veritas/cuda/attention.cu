// Causal grouped-query attention, forward and backward, with the CPU kernels' semantics
// (kernels::attention_forward / attention_backward): the fused q | k | v rows, query head
// h reading kv head h / (H / KVH), softmax weights saved in probs [B, H, T, T] (zero
// above the diagonal), the backward pass overwriting dqkv and turning probs into the score
// gradients. A first, direct version: one block per query row (forward, dQ) or key row
// (dK, dV), the row's scores kept in its probs row, no atomics, so results are the same
// run to run. It does O(T^2 hd) work in plain FMAs; a tiled flash-style kernel comes when
// it can be measured on a GPU.
#include <cuda_runtime.h>

#include <cmath>

#include "veritas/cuda/check.cuh"
#include "veritas/cuda/ops.hpp"
#include "veritas/cuda/reduce.cuh"

namespace veritas::cuda {
namespace {

constexpr int kThreads = 128;

struct Shape {
  int T, H, KVH, hd;
  int64_t C, KC, LD;  // H*hd; KVH*hd; a qkv row: C + 2*KC
  float scale;        // 1 / sqrt(hd)
};

Shape shape_of(int T, int H, int KVH, int hd) {
  Shape s{T, H, KVH, hd, (int64_t)H * hd, (int64_t)KVH * hd, 0, 1.0f / std::sqrt((float)hd)};
  s.LD = s.C + 2 * s.KC;
  return s;
}

// Block (t, h, b): query row t of head h.
__global__ void attention_forward_kernel(float* out, float* probs, const float* qkv, Shape s) {
  __shared__ float scratch[32];
  const int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z, kh = h / (s.H / s.KVH);
  const float* base = qkv + (int64_t)b * s.T * s.LD;
  const float* q = base + (int64_t)t * s.LD + (int64_t)h * s.hd;
  float* p = probs + (((int64_t)b * s.H + h) * s.T + t) * s.T;
  float mx = __int_as_float(0xff800000);
  for (int j = threadIdx.x; j <= t; j += blockDim.x) {
    const float* k = base + (int64_t)j * s.LD + s.C + (int64_t)kh * s.hd;
    float d = 0.0f;
    for (int c = 0; c < s.hd; ++c) d += q[c] * k[c];
    d *= s.scale;
    p[j] = d;
    mx = fmaxf(mx, d);
  }
  mx = block_max(mx, scratch);
  float sum = 0.0f;
  for (int j = threadIdx.x; j <= t; j += blockDim.x) {
    const float e = expf(p[j] - mx);
    p[j] = e;
    sum += e;
  }
  const float inv = 1.0f / block_sum(sum, scratch);
  for (int j = threadIdx.x; j < s.T; j += blockDim.x) p[j] = j <= t ? p[j] * inv : 0.0f;
  __syncthreads();  // the row's weights, written by every thread, are read by every thread below
  float* o = out + ((int64_t)b * s.T + t) * s.C + (int64_t)h * s.hd;
  for (int c = threadIdx.x; c < s.hd; c += blockDim.x) {
    float acc = 0.0f;
    for (int j = 0; j <= t; ++j) acc += p[j] * base[(int64_t)j * s.LD + s.C + s.KC + (int64_t)kh * s.hd + c];
    o[c] = acc;
  }
}

// Block (j, kh, b): the gradient of key row j's k or v part (at dst_off in a dqkv row) =
// sum over the group's heads h and the queries t >= j of W[t, j] X[t, h], where W is probs
// and X is dO (for dV, before the scores' gradients overwrite probs) or W is those
// gradients and X is Q (for dK). X's rows are x_ld apart, head h at h * hd.
__global__ void attention_key_grad_kernel(float* dqkv, int64_t dst_off, const float* w, const float* x, int64_t x_ld,
                                          Shape s) {
  const int j = blockIdx.x, kh = blockIdx.y, b = blockIdx.z, group = s.H / s.KVH;
  float* d = dqkv + ((int64_t)b * s.T + j) * s.LD + dst_off + (int64_t)kh * s.hd;
  for (int c = threadIdx.x; c < s.hd; c += blockDim.x) {
    float acc = 0.0f;
    for (int h = kh * group; h < (kh + 1) * group; ++h) {
      const float* p = w + ((int64_t)b * s.H + h) * s.T * s.T;
      const float* xh = x + (int64_t)b * s.T * x_ld + (int64_t)h * s.hd + c;
      for (int t = j; t < s.T; ++t) acc += p[(int64_t)t * s.T + j] * xh[(int64_t)t * x_ld];
    }
    d[c] = acc;
  }
}

// Block (t, h, b): dS[t, j] = P[t, j] (dO[t] . V[j] - dO[t] . O[t]) scale, written over P,
// then dQ[t] = sum_j dS[t, j] K[j].
__global__ void attention_dq_kernel(float* dqkv, float* probs, const float* dout, const float* out, const float* qkv,
                                    Shape s) {
  __shared__ float scratch[32];
  const int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z, kh = h / (s.H / s.KVH);
  const float* base = qkv + (int64_t)b * s.T * s.LD;
  const float* dO = dout + ((int64_t)b * s.T + t) * s.C + (int64_t)h * s.hd;
  const float* O = out + ((int64_t)b * s.T + t) * s.C + (int64_t)h * s.hd;
  float part = 0.0f;
  for (int c = threadIdx.x; c < s.hd; c += blockDim.x) part += dO[c] * O[c];
  const float D = block_sum(part, scratch);
  float* p = probs + (((int64_t)b * s.H + h) * s.T + t) * s.T;
  for (int j = threadIdx.x; j < s.T; j += blockDim.x) {
    if (j > t) {
      p[j] = 0.0f;
      continue;
    }
    const float* v = base + (int64_t)j * s.LD + s.C + s.KC + (int64_t)kh * s.hd;
    float dp = 0.0f;
    for (int c = 0; c < s.hd; ++c) dp += dO[c] * v[c];
    p[j] = p[j] * (dp - D) * s.scale;
  }
  __syncthreads();  // every dS of the row before dQ reads them
  float* dq = dqkv + ((int64_t)b * s.T + t) * s.LD + (int64_t)h * s.hd;
  for (int c = threadIdx.x; c < s.hd; c += blockDim.x) {
    float acc = 0.0f;
    for (int j = 0; j <= t; ++j) acc += p[j] * base[(int64_t)j * s.LD + s.C + (int64_t)kh * s.hd + c];
    dq[c] = acc;
  }
}

void check_args(const char* what, int B, int T, int H, int KVH, int hd) {
  if (B < 0 || T < 0 || H <= 0 || KVH <= 0 || hd <= 0 || H % KVH || B > 65535 || H > 65535)
    throw Error(std::string(what) + ": bad shape B=" + std::to_string(B) + " T=" + std::to_string(T) + " H=" +
                std::to_string(H) + " KVH=" + std::to_string(KVH) + " hd=" + std::to_string(hd));
}

}  // namespace

void attention_forward(float* out, float* probs, const float* qkv, int B, int T, int H, int KVH, int hd, void* stream) {
  check_args("attention_forward", B, T, H, KVH, hd);
  if (B == 0 || T == 0) return;
  const Shape s = shape_of(T, H, KVH, hd);
  attention_forward_kernel<<<dim3(T, H, B), kThreads, 0, as_stream(stream)>>>(out, probs, qkv, s);
  check_launch("attention_forward");
}

void attention_backward(float* dqkv, float* probs, const float* dout, const float* out, const float* qkv, int B, int T,
                        int H, int KVH, int hd, void* stream) {
  check_args("attention_backward", B, T, H, KVH, hd);
  if (B == 0 || T == 0) return;
  const Shape s = shape_of(T, H, KVH, hd);
  cudaStream_t st = as_stream(stream);
  attention_key_grad_kernel<<<dim3(T, KVH, B), kThreads, 0, st>>>(dqkv, s.C + s.KC, probs, dout, s.C, s);  // dV
  check_launch("attention_backward (dV)");
  attention_dq_kernel<<<dim3(T, H, B), kThreads, 0, st>>>(dqkv, probs, dout, out, qkv, s);
  check_launch("attention_backward (dS, dQ)");
  attention_key_grad_kernel<<<dim3(T, KVH, B), kThreads, 0, st>>>(dqkv, s.C, probs, qkv, s.LD, s);  // dK
  check_launch("attention_backward (dK)");
}

}  // namespace veritas::cuda
