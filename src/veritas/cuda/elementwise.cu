// Embedding, rotary position embedding, SwiGLU and scaling on the GPU, with the CPU kernels'
// semantics (kernels/kernels.cpp): one thread per output element, grid-stride loops.
// The embedding gradient adds the rows in token order, as the CPU does, so its result is
// bit-identical and the same run to run (no atomics).
#include <cuda_runtime.h>

#include "veritas/cuda/check.cuh"
#include "veritas/cuda/ops.hpp"

namespace veritas::cuda {
namespace {

constexpr int kThreads = 256;

void check_sizes(const char* what, int64_t a, int64_t b) {
  if (a < 0 || b <= 0) throw Error(std::string(what) + ": bad shape " + std::to_string(a) + " x " + std::to_string(b));
}

__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const float* table, int64_t N, int C) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < N * C; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = k / C;
    out[k] = table[(int64_t)tokens[n] * C + (k - n * C)];
  }
}

__global__ void scale_kernel(float* x, int64_t n, float s) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x)
    x[k] *= s;
}

// Thread c owns column c of every row of dtable and walks the tokens in order.
__global__ void embedding_backward_kernel(float* dtable, const float* dout, const int32_t* tokens, int64_t N, int C) {
  for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x)
    for (int64_t n = 0; n < N; ++n) dtable[(int64_t)tokens[n] * C + c] += dout[n * C + c];
}

// One thread per (row, head, pair): pairs (i, i + hd/2) of each head rotate by the angle
// of the row's position t = row % T; sign -1 rotates back (the backward pass).
__global__ void rope_kernel(float* x, const float* cos_t, const float* sin_t, int64_t rows, int T, int n_heads, int hd,
                            int64_t stride, float sign) {
  const int half = hd / 2;
  const int64_t total = rows * n_heads * half;
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total; k += (int64_t)gridDim.x * blockDim.x) {
    const int i = (int)(k % half);
    const int h = (int)(k / half % n_heads);
    const int64_t n = k / half / n_heads;
    const int t = (int)(n % T);
    float* v = x + n * stride + (int64_t)h * hd;
    const float a = v[i], b = v[i + half], c = cos_t[(int64_t)t * half + i], s = sign * sin_t[(int64_t)t * half + i];
    v[i] = a * c - b * s;
    v[i + half] = b * c + a * s;
  }
}

__device__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

__global__ void swiglu_forward_kernel(float* out, const float* gu, int64_t N, int I) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < N * I; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = k / I, i = k - n * I;
    const float g = gu[n * 2 * I + i], u = gu[n * 2 * I + I + i];
    out[k] = sigmoidf(g) * g * u;
  }
}

// Each thread reads its gate and up values before writing their gradients, so dgu may
// alias gu.
__global__ void swiglu_backward_kernel(float* dgu, const float* dout, const float* gu, int64_t N, int I) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < N * I; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = k / I, i = k - n * I;
    const float g = gu[n * 2 * I + i], u = gu[n * 2 * I + I + i], dy = dout[k];
    const float sig = sigmoidf(g);
    dgu[n * 2 * I + i] = dy * u * sig * (1.0f + g * (1.0f - sig));
    dgu[n * 2 * I + I + i] = dy * g * sig;
  }
}

}  // namespace

void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t N, int C, void* stream) {
  check_sizes("embedding_forward", N, C);
  if (N == 0) return;
  embedding_forward_kernel<<<grid_for(N * C, kThreads), kThreads, 0, as_stream(stream)>>>(out, tokens, table, N, C);
  check_launch("embedding_forward");
}

void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t N, int C, void* stream) {
  check_sizes("embedding_backward", N, C);
  if (N == 0) return;
  embedding_backward_kernel<<<grid_for(C, kThreads), kThreads, 0, as_stream(stream)>>>(dtable, dout, tokens, N, C);
  check_launch("embedding_backward");
}

namespace {
// sign 1: the forward rotation; -1: its transpose (the backward pass).
void rope(const char* what, float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
          int64_t row_stride, float sign, void* stream) {
  check_sizes(what, (int64_t)B * T, head_dim);
  if (head_dim % 2 || n_heads <= 0 || T <= 0)
    throw Error(std::string(what) + ": head_dim must be even and n_heads, T positive (got " + std::to_string(head_dim) +
                ", " + std::to_string(n_heads) + ", " + std::to_string(T) + ")");
  if ((int64_t)B * T == 0) return;
  const int64_t rows = (int64_t)B * T;
  rope_kernel<<<grid_for(rows * n_heads * (head_dim / 2), kThreads), kThreads, 0, as_stream(stream)>>>(
      x, cos_t, sin_t, rows, T, n_heads, head_dim, row_stride, sign);
  check_launch(what);
}
}  // namespace

void rope_forward(float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                  int64_t row_stride, void* stream) {
  rope("rope_forward", x, cos_t, sin_t, B, T, n_heads, head_dim, row_stride, 1.0f, stream);
}

void rope_backward(float* dx, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                   int64_t row_stride, void* stream) {
  rope("rope_backward", dx, cos_t, sin_t, B, T, n_heads, head_dim, row_stride, -1.0f, stream);
}

void swiglu_forward(float* out, const float* gu, int64_t N, int I, void* stream) {
  check_sizes("swiglu_forward", N, I);
  if (N == 0) return;
  swiglu_forward_kernel<<<grid_for(N * I, kThreads), kThreads, 0, as_stream(stream)>>>(out, gu, N, I);
  check_launch("swiglu_forward");
}

void swiglu_backward(float* dgu, const float* dout, const float* gu, int64_t N, int I, void* stream) {
  check_sizes("swiglu_backward", N, I);
  if (N == 0) return;
  swiglu_backward_kernel<<<grid_for(N * I, kThreads), kThreads, 0, as_stream(stream)>>>(dgu, dout, gu, N, I);
  check_launch("swiglu_backward");
}

void scale(float* x, int64_t n, float s, void* stream) {
  check_sizes("scale", n, 1);
  if (n == 0) return;
  scale_kernel<<<grid_for(n, kThreads), kThreads, 0, as_stream(stream)>>>(x, n, s);
  check_launch("scale");
}

}  // namespace veritas::cuda
