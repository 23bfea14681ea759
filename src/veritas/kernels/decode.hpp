#pragma once
// The CPU reference of the operations only inference needs (infer/device_forward.cpp runs
// the Llama forward pass on a backend with them and with the training kernels): products
// with bf16 weights, biases, rotary embedding at given positions, writing keys and values
// into caches, and attention of new tokens over their caches. The CUDA backend's kernels
// (cuda/decode.cu) have the same semantics.
#include <cstdint>

namespace veritas::kernels {

// out[N, OC] (+)= bf16(inp)[N, C] · w[OC, C]^T: w holds bf16 bits, the inputs are rounded to
// bf16 (nearest, ties to even) and the products summed in fp32.
void matmul_bf16_weights(float* out, const float* inp, const uint16_t* w, int64_t N, int C, int OC, bool accumulate);

// out[N, OC] (+)= inp[N, C] · w^T with w in blocks of 32 int8 values q and one fp32 scale
// each (Q8_0's arithmetic): w[o, c] = scale[o * C/32 + c/32] * q[o * C + c]; C a multiple
// of 32; fp32 activations and sums.
void matmul_q8_weights(float* out, const float* inp, const int8_t* q, const float* scale, int64_t N, int C, int OC,
                       bool accumulate);

// x[n, :] += b for each of the N rows of C values.
void add_bias(float* x, const float* b, int64_t N, int C);

// Rotary embedding in place, row n (n_heads * head_dim values at x + n * row_stride) at
// position pos[n]; tables as rope_tables'.
void rope_at(float* x, const float* cos_t, const float* sin_t, const int32_t* pos, int64_t N, int n_heads,
             int head_dim, int64_t row_stride);

// dst[n][0, C) = src[n * src_stride + (0, C)]: row n of src to the address dst[n] (a
// token's key or value to its place in its sequence's cache), as fp32 values, or with f16
// as IEEE halves (each rounded to nearest even: an fp16 KV cache).
void scatter_rows(void* const* dst, const float* src, int64_t src_stride, int64_t N, int C, bool f16);

// Grouped-query attention of N new tokens over their caches. Token n's query heads are
// q + n * q_stride (H heads of hd); its keys and values are the rows j = 0..pos[n] at
// kbase[n] + j * kv_stride and vbase[n] + j * kv_stride (KVH heads of hd each; query head
// h reads kv head h / (H / KVH)). out[n, h * hd + d] = sum_j softmax_j(q·k_j / sqrt(hd)) v_j[d].
// Keys and values are fp32, or with f16 halves (widened; the arithmetic stays fp32);
// kv_stride counts values.
void attention_cached(float* out, const float* q, int64_t q_stride, const void* const* kbase,
                      const void* const* vbase, const int32_t* pos, int64_t N, int H, int KVH, int hd,
                      int64_t kv_stride, bool f16);

}  // namespace veritas::kernels
