#pragma once
// CUDA error checks that become veritas::Error, and the loader of the libraries opened at
// run time (only .cu files include this).
#include <cuda_runtime.h>

#include <string>
#include <type_traits>

#include "veritas/util/error.hpp"

// A macro's value as a string literal ("libnccl.so." VERITAS_CUDA_STR(NCCL_MAJOR)).
#define VERITAS_CUDA_STR2(x) #x
#define VERITAS_CUDA_STR(x) VERITAS_CUDA_STR2(x)

namespace veritas::cuda {
void check(cudaError_t e, const char* what);
// After a launch: a bad configuration shows up here, a fault at the next sync.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }
// ops.hpp passes streams as void* (callers never see a CUDA type); nullptr: the default stream.
inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
// Blocks of `threads` for a grid-stride loop over n elements: enough to fill the GPU,
// fewer for small n, at least one.
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return (unsigned)(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

// A library loaded at run time (cuBLASLt, NCCL), so a CUDA build runs where it is absent
// until it is needed: `soname`, or the file the environment variable `env` names. Throws
// Error naming `what`, the file and how to point at it. Never closed.
struct Library {
  void* handle;
  std::string file, what;
  // Sets f to the symbol `name`; Error when it is missing.
  template <class F>
  void load(F& f, const char* name) const {
    f = reinterpret_cast<std::remove_reference_t<F>>(symbol(name));
  }
  void* symbol(const char* name) const;
};
Library open_library(const char* what, const char* soname, const char* env);
}  // namespace veritas::cuda
