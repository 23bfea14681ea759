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

// lse[n] = log sum exp of row n, then logp[n] = logit of its target - lse[n].
__global__ void target_logprobs_kernel(float* logp, float* lse, const float* logits, const int32_t* targets, int V) {
  __shared__ float scratch[32];
  const int64_t n = blockIdx.x;
  const float* l = logits + n * V;
  float mx = __int_as_float(0xff800000);
  for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, l[i]);
  mx = block_max(mx, scratch);
  float s = 0.0f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) s += expf(l[i] - mx);
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) {
    const float z = mx + logf(s);
    lse[n] = z;
    logp[n] = l[targets[n]] - z;
  }
}

// dlogits[n] = dlogp[n] * (onehot(target) - softmax(logits[n])); may alias logits.
__global__ void logprob_backward_kernel(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                                        const float* dlogp, int V) {
  const int64_t n = blockIdx.x;
  const float* l = logits + n * V;
  float* d = dlogits + n * V;
  const float w = -dlogp[n];  // the weight of (softmax - onehot), as the CPU kernel forms it
  const float z = lse[n];
  for (int i = threadIdx.x; i < V; i += blockDim.x) d[i] = w == 0.0f ? 0.0f : expf(l[i] - z) * w;
  __syncthreads();
  if (threadIdx.x == 0 && w != 0.0f) d[targets[n]] -= w;
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

void target_logprobs(float* logp, float* lse, const float* logits, const int32_t* targets, int64_t N, int V,
                     void* stream) {
  if (N < 0 || V <= 0 || N > 0x7fffffff)
    throw Error("target_logprobs: bad shape N=" + std::to_string(N) + " V=" + std::to_string(V));
  if (N == 0) return;
  target_logprobs_kernel<<<(unsigned)N, kThreads, 0, as_stream(stream)>>>(logp, lse, logits, targets, V);
  check_launch("target_logprobs");
}

void logprob_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                      const float* dlogp, int64_t N, int V, void* stream) {
  if (N < 0 || V <= 0 || N > 0x7fffffff)
    throw Error("logprob_backward: bad shape N=" + std::to_string(N) + " V=" + std::to_string(V));
  if (N == 0) return;
  logprob_backward_kernel<<<(unsigned)N, kThreads, 0, as_stream(stream)>>>(dlogits, logits, lse, targets, dlogp, V);
  check_launch("logprob_backward");
}

}  // namespace veritas::cuda
