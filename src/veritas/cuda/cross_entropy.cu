// Fused softmax + cross-entropy (forward and backward at once) on the GPU, with the CPU
// kernel's semantics (kernels::cross_entropy_fused): one block per row finds the row's
// maximum, turns the logits into exp(logit - max) in place and sums them, then scales
// them into the gradient w * (softmax - onehot). The loss over the rows is summed on the
// host in double, in row order, as the CPU does.
#include <cuda_runtime.h>

#include <vector>

#include "veritas/cuda/check.cuh"
#include "veritas/cuda/ops.hpp"
#include "veritas/cuda/reduce.cuh"

namespace veritas::cuda {
namespace {

constexpr int kThreads = 512;

// w = mask[n] * inv * scale (mask == nullptr: all ones, inv = 1 / the mask's sum); a row
// with mask 0 becomes zeros.
__global__ void cross_entropy_fused_kernel(float* logits, float* row_loss, const int32_t* targets, const float* mask,
                                           int V, float inv, float scale) {
  __shared__ float scratch[32];
  const int64_t n = blockIdx.x;
  float* l = logits + n * V;
  const float m = mask ? mask[n] : 1.0f;
  if (m == 0.0f) {
    for (int i = threadIdx.x; i < V; i += blockDim.x) l[i] = 0.0f;
    if (threadIdx.x == 0) row_loss[n] = 0.0f;
    return;
  }
  const int target = targets[n];
  const float target_logit = l[target];  // read by every thread before the block_max barrier
  float mx = __int_as_float(0xff800000);
  for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, l[i]);
  mx = block_max(mx, scratch);
  float s = 0.0f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const float e = expf(l[i] - mx);
    l[i] = e;
    s += e;
  }
  s = block_sum(s, scratch);  // its barrier also orders the writes above before the fix-up below
  const float w = m * inv * scale;  // in the CPU kernel's order
  const float k = w / s;
  for (int i = threadIdx.x; i < V; i += blockDim.x) l[i] *= k;
  __syncthreads();
  if (threadIdx.x == 0) {
    l[target] -= w;
    row_loss[n] = mx + logf(s) - target_logit;
  }
}

}  // namespace

float cross_entropy_fused(float* logits, float* row_loss, const int32_t* targets, const float* mask, int64_t N, int V,
                          float scale, void* stream) {
  if (N < 0 || V <= 0) throw Error("cross_entropy_fused: bad shape N=" + std::to_string(N) + " V=" + std::to_string(V));
  if (N > 0x7fffffff) throw Error("cross_entropy_fused: more rows than one grid launch takes");
  if (N == 0) return 0.0f;
  cudaStream_t s = as_stream(stream);
  // The mask's sum (the loss's denominator) on the host, in double and in row order.
  std::vector<float> m_host(mask ? N : 0);
  if (mask) {
    check(cudaMemcpyAsync(m_host.data(), mask, sizeof(float) * N, cudaMemcpyDeviceToHost, s),
          "cross_entropy_fused (mask)");
    check(cudaStreamSynchronize(s), "cross_entropy_fused (mask)");
  }
  double den = 0;
  for (int64_t n = 0; n < N; ++n) den += mask ? m_host[n] : 1.0;
  const float inv = den == 0.0 ? 0.0f : (float)(1.0 / den);
  cross_entropy_fused_kernel<<<(unsigned)N, kThreads, 0, s>>>(logits, row_loss, targets, mask, V, inv, scale);
  check_launch("cross_entropy_fused");
  if (den == 0.0) return 0.0f;
  std::vector<float> loss(N);
  check(cudaMemcpyAsync(loss.data(), row_loss, sizeof(float) * N, cudaMemcpyDeviceToHost, s),
        "cross_entropy_fused (loss)");
  check(cudaStreamSynchronize(s), "cross_entropy_fused (loss)");
  double num = 0;
  for (int64_t n = 0; n < N; ++n) num += (mask ? (double)m_host[n] : 1.0) * loss[n];
  return (float)(num / den);
}

}  // namespace veritas::cuda
