#pragma once
// The CUDA backend's entry points, as plain C++: callers (model/, train/, infer/ and the
// tests) never include a CUDA header. Pointers are device pointers unless named *_host;
// `stream` is a cudaStream_t passed as void* (nullptr: the default stream). Every call
// reports a CUDA failure as a veritas::Error naming the call.
#include <cstddef>
#include <cstdint>
#include <string>

namespace veritas::cuda {

// Number of CUDA devices usable by this process; 0 when there is no GPU or driver
// (`why`, when given, says which).
int device_count(std::string* why = nullptr);
// "cuda: built (CUDA 13.0, sm_90); devices: 1 (NVIDIA H200, 139 GiB)" or the reason there is none.
std::string summary();

// Device memory, and copies to and from the host (synchronous).
void* alloc(size_t bytes);
void free(void* p);
void copy_to_device(void* dst, const void* src_host, size_t bytes);
void copy_to_host(void* dst_host, const void* src, size_t bytes);
void synchronize();

// RMSNorm over rows of C values (the CPU reference: kernels/kernels.hpp):
//   out = x * rstd * w, rstd = (mean(x^2) + eps)^-1/2, saved per row for the backward.
// fp32 in and out; bf16 (raw uint16 bits) in and out with fp32 statistics.
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N, int C, float eps,
                     void* stream = nullptr);
void rmsnorm_forward_bf16(uint16_t* out, float* rstd, const uint16_t* inp, const uint16_t* w, int64_t N, int C,
                          float eps, void* stream = nullptr);
// Adds the gradients into dinp (N x C) and dw (C), as the CPU kernel does:
//   dx = r (w dy) - r^3 / C * x * sum(w dy x);  dw = sum_n dy x r.
void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                      const float* rstd, int64_t N, int C, void* stream = nullptr);

}  // namespace veritas::cuda
