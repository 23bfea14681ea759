#pragma once
// exp over whole rows, 16 (AVX-512) or 8 (AVX2) values at a time. Softmax, cross-entropy,
// SwiGLU and the language-model scorers spend a large share of their time in exp; a libm
// call per value (std::exp does not vectorize without -ffast-math) costs more than the
// arithmetic around it. The path is chosen at run time from the CPU's features.
//
// Accuracy: within 2 ulp of the correctly rounded result over the whole float range
// (denormal results included on both vector paths), exp(-inf) = 0, exp(+inf) = inf, NaN
// stays NaN; tests/kernels/vexp_test.cpp checks every path against exp in double.
#include <cstdint>

namespace veritas::kernels {

enum class VecIsa { scalar, avx2, avx512 };

// The widest path this CPU runs (AVX2 needs FMA too).
VecIsa best_vec_isa();
const char* vec_isa_name(VecIsa isa);

// dst[i] = exp(src[i] - shift) for i < n, and the sum of those values (summed in float
// lanes). dst may be src; dst == nullptr only sums.
float exp_shift_sum(float* dst, const float* src, int64_t n, float shift);
float exp_shift_sum(VecIsa isa, float* dst, const float* src, int64_t n, float shift);

// dst[i] = 1 / (1 + exp(-src[i])); dst may be src.
void sigmoid(float* dst, const float* src, int64_t n);
void sigmoid(VecIsa isa, float* dst, const float* src, int64_t n);

// The largest of src[0..n) (n >= 1; NaN inputs are not looked for).
float max_of(const float* src, int64_t n);
float max_of(VecIsa isa, const float* src, int64_t n);

}  // namespace veritas::kernels
