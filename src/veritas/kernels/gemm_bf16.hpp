#pragma once
// Matrix products in bf16 with fp32 accumulation, for training on CPUs that have AMX or
// AVX-512 BF16. The inputs stay fp32 in memory; each product rounds them to bf16 (nearest
// even) as it packs them, multiplies the bf16 values exactly and adds the products in
// fp32 — the same arithmetic as PyTorch's bf16 autocast on a CPU. Paths, the first this
// CPU (and OS) allows: AMX tiles, AVX-512 BF16 dot products, or the same rounding followed
// by fp32 sgemm; results agree across machines up to the order of the fp32 sums.
#include <cstdint>

namespace veritas::kernels {

// C[M, N] = A · B + beta · C with A(m, k) = a[m * a_rs + k * a_cs] and
// B(k, n) = b[k * b_rs + n * b_cs] (strides in elements: either layout of each operand);
// C is row-major with leading dimension ldc. beta is 0 (C overwritten) or 1 (added).
void gemm_bf16(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
               int64_t b_rs, int64_t b_cs, float beta, float* c, int64_t ldc);

enum class Bf16Path { amx, avx512, sgemm };  // widest first

// The path gemm_bf16 takes here (CPU, OS state and the limit below).
Bf16Path gemm_bf16_path();
const char* bf16_path_name(Bf16Path path);
// Tests and benchmarks: gemm_bf16 takes no path wider than this (default: amx, i.e. the
// widest the CPU has).
void gemm_bf16_limit_path(Bf16Path widest);

// fp32 -> bf16 (round to nearest even, NaN kept a NaN) and back.
uint16_t to_bf16(float x);
float from_bf16(uint16_t h);

}  // namespace veritas::kernels
