#pragma once
// Block-wide reductions for the kernels (only .cu files include this). Every thread of
// the block must call them, with blockDim.x a multiple of 32 and at most 1024; each
// returns the result to every thread. The order of the additions is fixed by the block
// shape, so a result is the same run to run.
#include <cuda_runtime.h>

namespace veritas::cuda {

// `scratch`: shared memory for one value per warp (32 of them). T: float, or double for
// sums over many values (a loss over rows, a gradient norm).
template <typename T>
__device__ inline T block_sum(T v, T* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T t = lane < blockDim.x / 32 ? scratch[lane] : T(0);
  for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
  __syncthreads();  // scratch may be reused by the caller's next reduction
  return t;
}

__device__ inline float block_max(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < blockDim.x / 32 ? scratch[lane] : __int_as_float(0xff800000);  // -inf
  for (int o = 16; o > 0; o >>= 1) t = fmaxf(t, __shfl_xor_sync(0xffffffffu, t, o));
  __syncthreads();
  return t;
}

}  // namespace veritas::cuda
