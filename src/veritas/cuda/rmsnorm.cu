// RMSNorm forward and backward on the GPU, the CPU kernels' semantics (kernels.cpp):
// one block per row for the row-wise parts; the weight gradient, a sum over rows, runs
// as its own kernel that adds in a fixed order, so results are the same run to run.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "veritas/cuda/check.cuh"
#include "veritas/cuda/ops.hpp"
#include "veritas/cuda/reduce.cuh"

namespace veritas::cuda {
namespace {

constexpr int kThreads = 256;

__device__ float load(const float* p, int64_t i) { return p[i]; }
__device__ float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16(v); }

template <typename T>
__global__ void rmsnorm_forward_kernel(T* out, float* rstd, const T* inp, const T* w, int C, float eps) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const T* x = inp + row * C;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float v = load(x, c);
    ss += v * v;
  }
  float r = rsqrtf(block_sum(ss, scratch) / C + eps);
  if (threadIdx.x == 0) rstd[row] = r;
  for (int c = threadIdx.x; c < C; c += blockDim.x) store(out + row * C, c, load(x, c) * r * load(w, c));
}

__global__ void rmsnorm_backward_input_kernel(float* dinp, const float* dout, const float* inp, const float* w,
                                              const float* rstd, int C) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const float* x = inp + row * C;
  const float* dy = dout + row * C;
  const float r = rstd[row];
  float dot = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) dot += w[c] * dy[c] * x[c];
  const float k = r * r * r * block_sum(dot, scratch) / C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) dinp[row * C + c] += r * w[c] * dy[c] - k * x[c];
}

// dw[c] += sum_n dy[n,c] x[n,c] r[n]: a block owns 32 columns; its 8 warps take every
// 8th row (reads stay coalesced along a row), then the 8 partial sums are added in
// warp order.
__global__ void rmsnorm_backward_weight_kernel(float* dw, const float* dout, const float* inp, const float* rstd,
                                               int64_t N, int C) {
  __shared__ float part[8][32];
  const int c = blockIdx.x * 32 + threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  float s = 0.0f;
  if (c < C)
    for (int64_t n = warp; n < N; n += 8) s += dout[n * C + c] * inp[n * C + c] * rstd[n];
  part[warp][threadIdx.x % 32] = s;
  __syncthreads();
  if (warp == 0 && c < C) {
    float t = 0.0f;
    for (int i = 0; i < 8; ++i) t += part[i][threadIdx.x];
    dw[c] += t;
  }
}

void check_shape(int64_t N, int C) {
  if (N < 0 || C <= 0) throw Error("rmsnorm: bad shape N=" + std::to_string(N) + " C=" + std::to_string(C));
  if (N > 0x7fffffff) throw Error("rmsnorm: more rows than one grid launch takes: " + std::to_string(N));
}

}  // namespace

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N, int C, float eps,
                     void* stream) {
  check_shape(N, C);
  if (N == 0) return;
  rmsnorm_forward_kernel<float><<<N, kThreads, 0, as_stream(stream)>>>(out, rstd, inp, w, C, eps);
  check_launch("rmsnorm_forward");
}

void rmsnorm_forward_bf16(uint16_t* out, float* rstd, const uint16_t* inp, const uint16_t* w, int64_t N, int C,
                          float eps, void* stream) {
  check_shape(N, C);
  if (N == 0) return;
  using bf = __nv_bfloat16;
  rmsnorm_forward_kernel<bf><<<N, kThreads, 0, as_stream(stream)>>>(
      reinterpret_cast<bf*>(out), rstd, reinterpret_cast<const bf*>(inp), reinterpret_cast<const bf*>(w), C, eps);
  check_launch("rmsnorm_forward_bf16");
}

void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                      const float* rstd, int64_t N, int C, void* stream) {
  check_shape(N, C);
  if (N == 0) return;
  rmsnorm_backward_input_kernel<<<N, kThreads, 0, as_stream(stream)>>>(dinp, dout, inp, w, rstd, C);
  check_launch("rmsnorm_backward (input)");
  rmsnorm_backward_weight_kernel<<<(C + 31) / 32, 256, 0, as_stream(stream)>>>(dw, dout, inp, rstd, N, C);
  check_launch("rmsnorm_backward (weight)");
}

}  // namespace veritas::cuda
