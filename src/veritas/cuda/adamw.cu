// AdamW and the sum of squares behind the gradient norm, on the GPU. The update does the
// CPU's float operations in the CPU's order (kernels/optimizer.cpp: the same scalars from
// kernels::adamw_scalars, then one multiply, fused multiply-adds, IEEE square root and
// division), so
// the result is bit-identical to it; the sum of squares is a fixed-order double reduction.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "veritas/cuda/check.cuh"
#include "veritas/cuda/ops.hpp"
#include "veritas/cuda/reduce.cuh"
#include "veritas/kernels/optimizer.hpp"

namespace veritas::cuda {
namespace {

constexpr int kThreads = 256;

struct Scalars {
  kernels::AdamWScalars a;
  float decay;
};

// __fmul_rn / __fadd_rn / __fdiv_rn / __fsqrt_rn: rounded as written, never contracted
// into a different fused operation.
__global__ void adamw_kernel(float* w, const float* g, float* m, float* v, int64_t n, Scalars s) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
    const float gk = g[k];
    const kernels::AdamWScalars& a = s.a;
    const float wk = __fmul_rn(w[k], s.decay);
    const float mk = __fmaf_rn(a.omb1, gk, __fmul_rn(m[k], a.b1));
    const float vk = __fmaf_rn(__fmul_rn(a.omb2, gk), gk, __fmul_rn(v[k], a.b2));
    m[k] = mk;
    v[k] = vk;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vk), a.bc2_sqrt), a.eps);
    w[k] = __fmaf_rn(-a.step_size, __fdiv_rn(mk, denom), wk);
  }
}

__global__ void sum_squares_kernel(double* partial, const float* x, int64_t n) {
  __shared__ double scratch[32];
  double acc = 0;
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x)
    acc += (double)x[k] * x[k];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

}  // namespace

void adamw_update(float* w, const float* g, float* m, float* v, int64_t n, bool decay, float lr, double beta1,
                  double beta2, double eps, double weight_decay, int64_t t, void* stream) {
  if (n < 0 || t < 1) throw Error("adamw_update: bad size " + std::to_string(n) + " or step " + std::to_string(t));
  if (n == 0) return;
  Scalars s;
  s.a = kernels::adamw_scalars(beta1, beta2, eps, lr, t);  // as the CPU forms them (torch's Python floats)
  s.decay = decay ? (float)(1.0 - (double)lr * weight_decay) : 1.0f;
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 65536);
  adamw_kernel<<<(unsigned)blocks, kThreads, 0, as_stream(stream)>>>(w, g, m, v, n, s);
  check_launch("adamw_update");
}

double sum_squares(const float* x, int64_t n, double* scratch, void* stream) {
  if (n < 0) throw Error("sum_squares: bad size " + std::to_string(n));
  if (n == 0) return 0.0;
  cudaStream_t s = as_stream(stream);
  sum_squares_kernel<<<kSumSquaresScratch, kThreads, 0, s>>>(scratch, x, n);
  check_launch("sum_squares");
  double host[kSumSquaresScratch];
  check(cudaMemcpyAsync(host, scratch, sizeof(host), cudaMemcpyDeviceToHost, s), "sum_squares");
  check(cudaStreamSynchronize(s), "sum_squares");
  double total = 0;
  for (double p : host) total += p;
  return total;
}

}  // namespace veritas::cuda
