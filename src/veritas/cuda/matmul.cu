// Matrix products through cuBLASLt, with the CPU kernels' semantics (kernels::matmul_*).
// The library is loaded at the first product (dlopen), not linked: a CUDA build then
// still runs anywhere without it, and only a GPU product needs it. fp32: fp32 in and out
// with CUBLAS_COMPUTE_32F (plain fp32 multiply-adds, no TF32), within fp32 rounding of
// the CPU's. bf16 (the CPU's --matmul bf16): both inputs rounded to bf16 (nearest, ties
// to even) into the caller's scratch, tensor-core products summed in fp32, fp32 out.
// Row-major [N, C] is column-major C x N, so each product below is written for cuBLAS's
// column-major convention.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cublas_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>

#include "veritas/cuda/check.cuh"
#include "veritas/cuda/ops.hpp"


namespace veritas::cuda {

// The major version this was built against (kept in the binary as data, where
// scripts/device-check finds it).
extern const char kCublasLtSoname[] = "libcublasLt.so." VERITAS_CUDA_STR(CUBLAS_VER_MAJOR);

namespace {

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

// (transa, transb, m, n, k, and the alignments of A, B and C in bytes): the leading
// dimensions follow from the shape (tight layouts). cuBLASLt's heuristic assumes 256-byte
// aligned operands unless told otherwise, and a parameter inside the flat weight buffer
// may sit at any multiple of 4 bytes.
// The last member: the inputs are bf16.
using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, uint32_t, uint32_t, uint32_t, bool>;

uint32_t alignment(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const uintptr_t low = a & (~a + 1);  // the lowest set bit
  return (uint32_t)(a == 0 || low > 256 ? 256 : low);
}

// The library's entry points (no GPU needed to resolve them), then its handle.
struct LtSymbols {
  decltype(&cublasLtCreate) create = nullptr;
  decltype(&cublasLtMatmulDescCreate) desc_create = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) layout_create = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic = nullptr;
  decltype(&cublasLtMatmul) matmul = nullptr;
};

struct Lt : LtSymbols {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 32u << 20;
  std::map<Key, Plan> plans;  // kept for the process's life, like the handle
  std::mutex mu;
};

void lt_check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("cuBLASLt: ") + what + " failed (status " + std::to_string((int)s) + ")");
}

const LtSymbols& lt_symbols() {
  static const LtSymbols inst = [] {
    const Library lib = open_library("cuBLASLt", kCublasLtSoname, "VERITAS_CUBLASLT");
    LtSymbols l;
    lib.load(l.create, "cublasLtCreate");
    lib.load(l.desc_create, "cublasLtMatmulDescCreate");
    lib.load(l.desc_set, "cublasLtMatmulDescSetAttribute");
    lib.load(l.layout_create, "cublasLtMatrixLayoutCreate");
    lib.load(l.pref_create, "cublasLtMatmulPreferenceCreate");
    lib.load(l.pref_destroy, "cublasLtMatmulPreferenceDestroy");
    lib.load(l.pref_set, "cublasLtMatmulPreferenceSetAttribute");
    lib.load(l.heuristic, "cublasLtMatmulAlgoGetHeuristic");
    lib.load(l.matmul, "cublasLtMatmul");
    return l;
  }();
  return inst;
}

Lt& lt() {
  static Lt* inst = [] {
    auto* l = new Lt;
    static_cast<LtSymbols&>(*l) = lt_symbols();
    lt_check(l->create(&l->handle), "cublasLtCreate");
    check(cudaMalloc(&l->workspace, l->workspace_bytes), "cudaMalloc (cuBLASLt workspace)");
    return l;
  }();
  return *inst;
}

const Plan& plan_for(Lt& l, bool ta, bool tb, int64_t m, int64_t n, int64_t k, uint32_t al_a, uint32_t al_b,
                     uint32_t al_c, bool bf16) {
  const Key key{ta, tb, m, n, k, al_a, al_b, al_c, bf16};
  auto it = l.plans.find(key);
  if (it != l.plans.end()) return it->second;
  Plan p;
  lt_check(l.desc_create(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  lt_check(l.desc_set(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof(opa)), "set TRANSA");
  lt_check(l.desc_set(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof(opb)), "set TRANSB");
  // Stored shapes: A is m x k (k x m when transposed), B is k x n (n x k), C is m x n.
  const cudaDataType_t in = bf16 ? CUDA_R_16BF : CUDA_R_32F;
  lt_check(l.layout_create(&p.a, in, ta ? k : m, ta ? m : k, ta ? k : m), "layout A");
  lt_check(l.layout_create(&p.b, in, tb ? n : k, tb ? k : n, tb ? n : k), "layout B");
  lt_check(l.layout_create(&p.c, CUDA_R_32F, m, n, m), "layout C");
  cublasLtMatmulPreference_t pref = nullptr;
  lt_check(l.pref_create(&pref), "cublasLtMatmulPreferenceCreate");
  lt_check(l.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &l.workspace_bytes, sizeof(l.workspace_bytes)),
           "set workspace");
  lt_check(l.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof(al_a)), "set alignment A");
  lt_check(l.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof(al_b)), "set alignment B");
  lt_check(l.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof(al_c)), "set alignment C");
  lt_check(l.pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof(al_c)), "set alignment D");
  cublasLtMatmulHeuristicResult_t res{};
  int found = 0;
  const cublasStatus_t s = l.heuristic(l.handle, p.desc, p.a, p.b, p.c, p.c, pref, 1, &res, &found);
  l.pref_destroy(pref);
  lt_check(s, "cublasLtMatmulAlgoGetHeuristic");
  if (found == 0)
    throw Error("cuBLASLt: no algorithm for a " + std::to_string(m) + " x " + std::to_string(n) + " x " +
                std::to_string(k) + (bf16 ? " bf16" : " fp32") + " product");
  p.algo = res.algo;
  return l.plans.emplace(key, p).first->second;
}

// Column-major C[m, n] = op(A) op(B) + beta C; A and B fp32, or bf16 bits when bf16.
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void* A, const void* B, float* C, float beta,
          bool bf16, void* stream, const char* what) {
  if (m <= 0 || n <= 0) return;
  Lt& l = lt();
  std::lock_guard<std::mutex> g(l.mu);
  if (k <= 0) {  // an empty sum: C = beta C
    if (beta == 0.0f) check(cudaMemsetAsync(C, 0, sizeof(float) * m * n, as_stream(stream)), what);
    return;
  }
  const Plan& p = plan_for(l, ta, tb, m, n, k, alignment(A), alignment(B), alignment(C), bf16);
  const float alpha = 1.0f;
  lt_check(l.matmul(l.handle, p.desc, &alpha, A, p.a, B, p.b, &beta, C, p.c, C, p.c, &p.algo, l.workspace,
                    l.workspace_bytes, as_stream(stream)),
           what);
}

__global__ void to_bf16_kernel(__nv_bfloat16* dst, const float* src, int64_t n) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x)
    dst[k] = __float2bfloat16_rn(src[k]);
}

// Each operand's copy starts on a 256-byte boundary (the scratch is cudaMalloc's, so
// aligned so): what the tensor-core kernels want.
int64_t aligned(int64_t n) { return (n + 127) / 128 * 128; }

// Rounds n floats into the scratch at `at` and returns where they went.
const uint16_t* rounded(uint16_t*& at, const float* src, int64_t n, void* stream) {
  uint16_t* dst = at;
  at += aligned(n);
  if (n == 0) return dst;
  const int64_t blocks = std::min<int64_t>((n + 255) / 256, 65536);
  to_bf16_kernel<<<(unsigned)blocks, 256, 0, as_stream(stream)>>>(reinterpret_cast<__nv_bfloat16*>(dst), src, n);
  check_launch("matmul bf16 rounding");
  return dst;
}

// A few tokens (decode): one warp per output row reads the row's bf16 weights once, 8 at a
// time (16-byte loads) when the row allows it, for all N tokens; x is rounded to bf16 as
// it is read. Memory-bound: the weights are read once per call, as the roofline counts.
constexpr int kGemvMaxTokens = 8;
constexpr int kGemvWarps = 8;

__device__ inline float bf16_round(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

// The warp's partial sums of output row o for each token, summed across lanes, written
// (or added) by lane 0.
__device__ inline void store_rows(const float (&acc)[kGemvMaxTokens], float* out, int N, int OC, int o, int lane,
                                  bool accumulate) {
#pragma unroll
  for (int n = 0; n < kGemvMaxTokens; ++n) {
    if (n >= N) break;
    float v = acc[n];
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (lane == 0) out[(int64_t)n * OC + o] = accumulate ? out[(int64_t)n * OC + o] + v : v;
  }
}

__global__ void gemv_bf16_kernel(float* out, const float* x, const uint16_t* w, int N, int C, int OC, bool accumulate) {
  const int o = blockIdx.x * kGemvWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (o >= OC) return;
  const uint16_t* row = w + (int64_t)o * C;
  float acc[kGemvMaxTokens];
#pragma unroll
  for (int n = 0; n < kGemvMaxTokens; ++n) acc[n] = 0.0f;
  const bool vec = C % 8 == 0 && (reinterpret_cast<uintptr_t>(row) % 16) == 0 &&
                   (reinterpret_cast<uintptr_t>(x) % 16) == 0;
  if (vec) {
    for (int c = lane * 8; c < C; c += 32 * 8) {
      const uint4 raw = *reinterpret_cast<const uint4*>(row + c);
      const uint32_t u[4] = {raw.x, raw.y, raw.z, raw.w};
      float wf[8];
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        wf[2 * k] = __uint_as_float(u[k] << 16);
        wf[2 * k + 1] = __uint_as_float(u[k] & 0xffff0000u);
      }
#pragma unroll
      for (int n = 0; n < kGemvMaxTokens; ++n) {
        if (n >= N) break;
        const float4 a = *reinterpret_cast<const float4*>(x + (int64_t)n * C + c);
        const float4 b = *reinterpret_cast<const float4*>(x + (int64_t)n * C + c + 4);
        acc[n] += wf[0] * bf16_round(a.x) + wf[1] * bf16_round(a.y) + wf[2] * bf16_round(a.z) +
                  wf[3] * bf16_round(a.w) + wf[4] * bf16_round(b.x) + wf[5] * bf16_round(b.y) +
                  wf[6] * bf16_round(b.z) + wf[7] * bf16_round(b.w);
      }
    }
  } else {
    for (int c = lane; c < C; c += 32) {
      const float wv = __uint_as_float((uint32_t)row[c] << 16);
#pragma unroll
      for (int n = 0; n < kGemvMaxTokens; ++n)
        if (n < N) acc[n] += wv * bf16_round(x[(int64_t)n * C + c]);
    }
  }
  store_rows(acc, out, N, OC, o, lane, accumulate);
}

}  // namespace

void load_cublaslt() { lt_symbols(); }

int64_t matmul_bf16_scratch(int64_t N, int C, int OC) {
  return aligned(N * C) + aligned((int64_t)OC * C) + aligned(N * OC);
}

void matmul_forward(float* out, const float* inp, const float* w, int64_t N, int C, int OC, bool accumulate,
                    uint16_t* bf16_scratch, void* stream) {
  const bool bf16 = bf16_scratch != nullptr;
  const void *A = w, *B = inp;
  if (bf16) A = rounded(bf16_scratch, w, (int64_t)OC * C, stream), B = rounded(bf16_scratch, inp, N * C, stream);
  // out^T [OC, N] = w [OC, C] (stored C x OC) ^T · inp^T [C, N]
  gemm(true, false, OC, N, C, A, B, out, accumulate ? 1.0f : 0.0f, bf16, stream, "matmul_forward");
}

void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, int64_t N, int C,
                     int OC, bool accumulate_dinp, uint16_t* bf16_scratch, void* stream) {
  const bool bf16 = bf16_scratch != nullptr;
  const void *W = w, *X = inp, *DY = dout;
  if (bf16) {
    DY = rounded(bf16_scratch, dout, N * OC, stream);
    if (dinp) W = rounded(bf16_scratch, w, (int64_t)OC * C, stream);
    if (dw) X = rounded(bf16_scratch, inp, N * C, stream);
  }
  // dinp^T [C, N] (+)= w^T [C, OC] · dout^T [OC, N]
  if (dinp)
    gemm(false, false, C, N, OC, W, DY, dinp, accumulate_dinp ? 1.0f : 0.0f, bf16, stream, "matmul_backward dinp");
  // dw^T [C, OC] += inp^T [C, N] · dout [N, OC]
  if (dw) gemm(false, true, C, OC, N, X, DY, dw, 1.0f, bf16, stream, "matmul_backward dw");
}

void matmul_bf16_weights(float* out, const float* inp, const uint16_t* w, int64_t N, int C, int OC, bool accumulate,
                         uint16_t* scratch, void* stream) {
  if (N <= 0 || OC <= 0) return;
  if (N <= kGemvMaxTokens) {
    gemv_bf16_kernel<<<(unsigned)((OC + kGemvWarps - 1) / kGemvWarps), kGemvWarps * 32, 0, as_stream(stream)>>>(
        out, inp, w, (int)N, C, OC, accumulate);
    check_launch("matmul_bf16_weights (gemv)");
    return;
  }
  const void* B = rounded(scratch, inp, N * C, stream);
  gemm(true, false, OC, N, C, w, B, out, accumulate ? 1.0f : 0.0f, true, stream, "matmul_bf16_weights");
}

namespace {

// Q8 rows: each lane reads 16 int8 weights (half a block) per step with one 16-byte load.
__global__ void gemv_q8_kernel(float* out, const float* x, const int8_t* q, const float* scale, int N, int C, int OC,
                               bool accumulate) {
  const int o = blockIdx.x * kGemvWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (o >= OC) return;
  const int8_t* row = q + (int64_t)o * C;
  const float* srow = scale + (int64_t)o * (C / 32);
  float acc[kGemvMaxTokens];
#pragma unroll
  for (int n = 0; n < kGemvMaxTokens; ++n) acc[n] = 0.0f;
  for (int c = lane * 16; c < C; c += 32 * 16) {
    const int4 raw = *reinterpret_cast<const int4*>(row + c);
    const int32_t u[4] = {raw.x, raw.y, raw.z, raw.w};
    float wf[16];
#pragma unroll
    for (int k = 0; k < 4; ++k)
#pragma unroll
      for (int b = 0; b < 4; ++b) wf[4 * k + b] = (float)(int8_t)(u[k] >> (8 * b));
    const float s = srow[c / 32];
#pragma unroll
    for (int n = 0; n < kGemvMaxTokens; ++n) {
      if (n >= N) break;
      const float4* xv = reinterpret_cast<const float4*>(x + (int64_t)n * C + c);
      float d = 0.0f;
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const float4 a = xv[k];
        d += wf[4 * k] * a.x + wf[4 * k + 1] * a.y + wf[4 * k + 2] * a.z + wf[4 * k + 3] * a.w;
      }
      acc[n] += s * d;
    }
  }
  store_rows(acc, out, N, OC, o, lane, accumulate);
}

}  // namespace

void matmul_q8_weights(float* out, const float* inp, const int8_t* q, const float* scale, int64_t N, int C, int OC,
                       bool accumulate, void* stream) {
  if (N <= 0 || OC <= 0) return;
  if (C % 32 != 0) throw Error("matmul_q8_weights: " + std::to_string(C) + " columns (a multiple of 32 is needed)");
  if (reinterpret_cast<uintptr_t>(inp) % 16 || reinterpret_cast<uintptr_t>(q) % 16)
    throw Error("matmul_q8_weights: the weights and activations must start on 16-byte boundaries");
  for (int64_t n0 = 0; n0 < N; n0 += kGemvMaxTokens) {
    const int n = (int)std::min<int64_t>(kGemvMaxTokens, N - n0);
    gemv_q8_kernel<<<(unsigned)((OC + kGemvWarps - 1) / kGemvWarps), kGemvWarps * 32, 0, as_stream(stream)>>>(
        out + n0 * OC, inp + n0 * C, q, scale, n, C, OC, accumulate);
    check_launch("matmul_q8_weights");
  }
}

}  // namespace veritas::cuda
