// Device discovery, memory and errors for the CUDA backend.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdlib>

#include "veritas/cuda/check.cuh"
#include "veritas/cuda/ops.hpp"

namespace veritas::cuda {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

int device_count(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = cudaGetErrorString(e);
    cudaGetLastError();  // clear the sticky error so later calls report their own
    return 0;
  }
  if (n == 0 && why) *why = "no CUDA device";
  return n;
}

std::string summary() {
  int rt = CUDART_VERSION;
  std::string s = "cuda: built (CUDA " + std::to_string(rt / 1000) + "." + std::to_string(rt % 1000 / 10) +
                  ", " VERITAS_CUDA_ARCHS ")";
  std::string why;
  int n = device_count(&why);
  if (n == 0) return s + "; no device here (" + why + ")";
  s += "; devices: " + std::to_string(n);
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    s += std::string(i ? ", " : " (") + p.name + " sm_" + std::to_string(p.major) + std::to_string(p.minor) + " " +
         std::to_string(p.totalGlobalMem >> 30) + " GiB";
  }
  return s + ")";
}

Library open_library(const char* what, const char* soname, const char* env) {
  const char* named = std::getenv(env);
  const std::string file = named && *named ? named : soname;
  void* h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h)
    throw Error(std::string(what) + ": cannot load " + file + " (" + dlerror() +
                "): add its folder (the CUDA toolkit's lib64, or the Python nvidia-* package's lib) to "
                "LD_LIBRARY_PATH, or set " + env + " to the file");
  return Library{h, file, what};
}

void* Library::symbol(const char* name) const {
  void* f = dlsym(handle, name);
  if (!f) throw Error(what + ": symbol " + name + " missing from " + file);
  return f;
}

void* alloc(size_t bytes) {
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), "cudaMalloc");
  return p;
}

void free(void* p) { check(cudaFree(p), "cudaFree"); }

void copy_to_device(void* dst, const void* src_host, size_t bytes) {
  check(cudaMemcpy(dst, src_host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to device");
}

void copy_to_host(void* dst_host, const void* src, size_t bytes) {
  check(cudaMemcpy(dst_host, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy to host");
}

void set_device(int device) { check(cudaSetDevice(device), "cudaSetDevice"); }

void copy_on_device(void* dst, const void* src, size_t bytes) {
  if (bytes) check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy on device");
}

void zero(void* dst, size_t bytes) {
  if (bytes) check(cudaMemset(dst, 0, bytes), "cudaMemset");
}

void synchronize() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

}  // namespace veritas::cuda

namespace veritas::cuda {

// A blocking stream (cudaStreamCreate's default): its work waits for the legacy default
// stream's and the default stream's later work waits for it, so a replayed graph stays in
// order with the synchronous copies around it.
void* stream_create() {
  cudaStream_t s = nullptr;
  check(cudaStreamCreate(&s), "cudaStreamCreate");
  return s;
}

void capture_begin(void* stream) {
  check(cudaStreamBeginCapture(as_stream(stream), cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
}

void* capture_end(void* stream) {
  cudaGraph_t g = nullptr;
  check(cudaStreamEndCapture(as_stream(stream), &g), "cudaStreamEndCapture");
  cudaGraphExec_t exec = nullptr;
  const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
  cudaGraphDestroy(g);
  check(e, "cudaGraphInstantiate");
  return exec;
}

void graph_launch(void* exec, void* stream) {
  check(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec), as_stream(stream)), "cudaGraphLaunch");
}

void graph_destroy(void* exec) {
  if (exec) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec));
}

}  // namespace veritas::cuda
