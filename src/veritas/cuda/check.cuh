#pragma once
// CUDA error checks that become veritas::Error (only .cu files include this).
#include <cuda_runtime.h>

#include <string>

#include "veritas/util/error.hpp"

namespace veritas::cuda {
void check(cudaError_t e, const char* what);
// After a launch: a bad configuration shows up here, a fault at the next sync.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }
// ops.hpp passes streams as void* (callers never see a CUDA type); nullptr: the default stream.
inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
}  // namespace veritas::cuda
