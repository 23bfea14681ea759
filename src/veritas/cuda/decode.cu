// The kernels only inference needs (kernels/decode.hpp has the CPU reference and the
// semantics): biases, rotary embedding at given positions, keys and values into their
// caches, and attention of new tokens over their caches. Products with bf16 weights are
// in matmul.cu.
//
// attention_cached runs one block per (token, query head); each warp walks every
// kWarps-th cached position with an online softmax (running maximum, sum and weighted
// values, as flash attention does), and the warps' partial results are merged at the end.
// No score buffer, so the context length has no limit here; one block per head is little
// parallelism for one token over a long context (a split over positions would add more).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>

#include "veritas/cuda/check.cuh"
#include "veritas/cuda/ops.hpp"

namespace veritas::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void add_bias_kernel(float* x, const float* b, int64_t N, int C) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < N * C; k += (int64_t)gridDim.x * blockDim.x)
    x[k] += b[k % C];
}

__global__ void rope_at_kernel(float* x, const float* cos_t, const float* sin_t, const int32_t* pos, int64_t N,
                               int n_heads, int hd, int64_t row_stride) {
  const int half = hd / 2;
  const int64_t total = N * n_heads * half;
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total; k += (int64_t)gridDim.x * blockDim.x) {
    const int i = (int)(k % half);
    const int64_t nh = k / half;
    const int h = (int)(nh % n_heads);
    const int64_t n = nh / n_heads;
    const float c = cos_t[(int64_t)pos[n] * half + i], s = sin_t[(int64_t)pos[n] * half + i];
    float* v = x + n * row_stride + (int64_t)h * hd;
    const float a = v[i], b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = b * c + a * s;
  }
}

// A cache value stored as T (float, or __half for an fp16 cache), and read back widened.
__device__ inline void put(float* p, float v) { *p = v; }
__device__ inline void put(__half* p, float v) { *p = __float2half_rn(v); }
__device__ inline float get(const float* p) { return *p; }
__device__ inline float get(const __half* p) { return __half2float(*p); }

template <typename T>
__global__ void scatter_rows_kernel(void* const* dst, const float* src, int64_t src_stride, int C) {
  const int64_t n = blockIdx.x;
  T* row = static_cast<T*>(dst[n]);
  for (int c = threadIdx.x; c < C; c += blockDim.x) put(row + c, src[n * src_stride + c]);
}

constexpr int kWarps = 4;       // warps per (token, head) block
constexpr int kMaxHeadDim = 256;
constexpr int kPerLane = kMaxHeadDim / 32;

template <typename T>
__global__ void attention_cached_kernel(float* out, const float* q, int64_t q_stride, const void* const* kbase,
                                        const void* const* vbase, const int32_t* pos, int H, int KVH, int hd,
                                        int64_t kv_stride, float scale) {
  const int64_t n = blockIdx.x / H;
  const int h = blockIdx.x % H;
  const int kvh = h / (H / KVH);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float* qh = q + n * q_stride + (int64_t)h * hd;
  float qr[kPerLane], acc[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane + 32 * i;
    qr[i] = d < hd ? qh[d] : 0.0f;
    acc[i] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const int len = pos[n] + 1;
  const T* K = static_cast<const T*>(kbase[n]) + (int64_t)kvh * hd;
  const T* V = static_cast<const T*>(vbase[n]) + (int64_t)kvh * hd;
  for (int j = warp; j < len; j += kWarps) {
    const T* k = K + j * kv_stride;
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      if (d < hd) s += qr[i] * get(k + d);
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    s *= scale;
    const float m_new = fmaxf(m, s);
    const float corr = expf(m - m_new), p = expf(s - m_new);
    l = l * corr + p;
    const T* v = V + j * kv_stride;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      acc[i] = acc[i] * corr + (d < hd ? p * get(v + d) : 0.0f);
    }
    m = m_new;
  }
  // Merge the warps: out = sum_w acc_w e^(m_w - M) / sum_w l_w e^(m_w - M).
  __shared__ float sm[kWarps], sl[kWarps];
  __shared__ float sacc[kWarps][kMaxHeadDim];
  if (lane == 0) sm[warp] = m, sl[warp] = l;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane + 32 * i;
    if (d < hd) sacc[warp][d] = acc[i];
  }
  __syncthreads();
  float M = -INFINITY;
  for (int w = 0; w < kWarps; ++w) M = fmaxf(M, sm[w]);
  float L = 0.0f;
  for (int w = 0; w < kWarps; ++w) L += sm[w] == -INFINITY ? 0.0f : sl[w] * expf(sm[w] - M);
  float* o = out + n * (int64_t)H * hd + (int64_t)h * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float v = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (sm[w] != -INFINITY) v += sacc[w][d] * expf(sm[w] - M);
    o[d] = v / L;
  }
}

}  // namespace

void add_bias(float* x, const float* b, int64_t N, int C, void* stream) {
  if (N <= 0 || C <= 0) return;
  add_bias_kernel<<<grid_for(N * C, kThreads), kThreads, 0, as_stream(stream)>>>(x, b, N, C);
  check_launch("add_bias");
}

void rope_at(float* x, const float* cos_t, const float* sin_t, const int32_t* pos, int64_t N, int n_heads,
             int head_dim, int64_t row_stride, void* stream) {
  if (N <= 0 || n_heads <= 0 || head_dim < 2) return;
  rope_at_kernel<<<grid_for(N * n_heads * (head_dim / 2), kThreads), kThreads, 0, as_stream(stream)>>>(
      x, cos_t, sin_t, pos, N, n_heads, head_dim, row_stride);
  check_launch("rope_at");
}

void scatter_rows(void* const* dst, const float* src, int64_t src_stride, int64_t N, int C, bool f16, void* stream) {
  if (N <= 0 || C <= 0) return;
  if (N > 2147483647) throw Error("scatter_rows: too many rows");
  if (f16)
    scatter_rows_kernel<__half><<<(unsigned)N, 128, 0, as_stream(stream)>>>(dst, src, src_stride, C);
  else
    scatter_rows_kernel<float><<<(unsigned)N, 128, 0, as_stream(stream)>>>(dst, src, src_stride, C);
  check_launch("scatter_rows");
}

void attention_cached(float* out, const float* q, int64_t q_stride, const void* const* kbase,
                      const void* const* vbase, const int32_t* pos, int64_t N, int H, int KVH, int hd,
                      int64_t kv_stride, bool f16, void* stream) {
  if (N <= 0) return;
  if (hd > kMaxHeadDim || hd <= 0 || KVH <= 0 || H % KVH != 0)
    throw Error("attention_cached: head_dim " + std::to_string(hd) + " (at most " + std::to_string(kMaxHeadDim) +
                "), " + std::to_string(H) + " heads, " + std::to_string(KVH) + " kv heads");
  if (N * H > 2147483647) throw Error("attention_cached: too many (token, head) pairs");
  const float scale = 1.0f / sqrtf((float)hd);
  if (f16)
    attention_cached_kernel<__half><<<(unsigned)(N * H), kWarps * 32, 0, as_stream(stream)>>>(
        out, q, q_stride, kbase, vbase, pos, H, KVH, hd, kv_stride, scale);
  else
    attention_cached_kernel<float><<<(unsigned)(N * H), kWarps * 32, 0, as_stream(stream)>>>(
        out, q, q_stride, kbase, vbase, pos, H, KVH, hd, kv_stride, scale);
  check_launch("attention_cached");
}

}  // namespace veritas::cuda
