#pragma once
// CPU kernels for a Llama-style transformer, forward and backward side by side.
// Layout: activations are row-major [N, C] with N = B*T tokens; weights use PyTorch's
// [out, in] layout. Backward functions ADD into parameter gradients (so gradients
// accumulate across micro-batches); whether they add into input gradients is stated per
// function. Nothing here allocates: callers pass every buffer.
#include <cstdint>

namespace veritas::kernels {

// out[N, OC] (+)= inp[N, C] · w[OC, C]^T  (a Linear layer without bias; added into out
// when accumulate, which fuses a residual connection into the product)
void matmul_forward(float* out, const float* inp, const float* w, int64_t N, int C, int OC, bool accumulate = false);
// dinp[N, C] (+)= dout · w   (added when accumulate_dinp, else overwritten; skipped if null)
// dw[OC, C]  += dout^T · inp (skipped if null)
void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, int64_t N, int C,
                     int OC, bool accumulate_dinp);
// Whether matmul_forward / matmul_backward multiply in bf16 with fp32 sums (gemm_bf16.hpp)
// instead of fp32: one setting per process, chosen by the trainer (train --matmul).
void set_matmul_bf16(bool on);
bool matmul_bf16();

// Sizes the threads a command computes with: the global pool and OpenBLAS alike (threads
// <= 0 leaves both at their defaults). Call before parallel work starts.
void set_cpu_threads(int threads);

// out[n] = table[tokens[n]]; tokens must be in range (the model checks).
void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t N, int C);
// dtable[tokens[n]] += dout[n]
void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t N, int C);

// out = inp * rstd * w with rstd = 1 / sqrt(mean(inp^2) + eps); rstd[N] is saved.
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N, int C, float eps);
// dinp += d/dinp, dw += d/dw
void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                      const float* rstd, int64_t N, int C);

// Rotary tables [max_seq, head_dim/2] for Hugging Face Llama's rotate_half layout:
// pairs (i, i + head_dim/2) rotate by angle pos * theta^(-2i/head_dim).
void rope_tables(float* cos_t, float* sin_t, int max_seq, int head_dim, float theta);
// x: rows of n_heads * head_dim values, row n at x + n * row_stride (n = b*T + t), rotated
// in place; position = t.
void rope_forward(float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                  int64_t row_stride);
// dx in place: the transpose of the rotation (rotation by -angle).
void rope_backward(float* dx, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                   int64_t row_stride);

// Causal grouped-query attention on the fused projection qkv: [B, T, (H + 2*KVH) * hd],
// each row q (H heads) | k (KVH heads) | v (KVH heads); query head h uses kv head
// h / (H / KVH). out: [B, T, H*hd]. probs: [B, H, T, T] softmax weights (saved for
// backward; zero above the diagonal).
void attention_forward(float* out, float* probs, const float* qkv, int B, int T, int H, int KVH, int hd);
// dqkv (same layout as qkv) is overwritten; out is the forward output. probs is
// overwritten with the score gradients (it is not needed after).
void attention_backward(float* dqkv, float* probs, const float* dout, const float* out, const float* qkv, int B, int T,
                        int H, int KVH, int hd);

// SwiGLU on the fused projection gu: [N, 2*I], each row gate | up. out[N, I] = silu(gate) * up.
void swiglu_forward(float* out, const float* gu, int64_t N, int I);
// dgu (same layout as gu) is overwritten; it may alias gu (computed element by element).
void swiglu_backward(float* dgu, const float* dout, const float* gu, int64_t N, int I);

// Masked cross-entropy. logits [N, V]; mask [N] weights or nullptr (all ones).
// Saves lse[N] (log-sum-exp per row) and returns sum(mask * loss) / sum(mask) (0 when the
// mask sums to 0). Targets of rows with mask 0 are not read.
float cross_entropy_forward(float* lse, const float* logits, const int32_t* targets, const float* mask, int64_t N,
                            int V);
// dlogits = scale * mask/sum(mask) * (softmax(logits) - onehot); dlogits may alias logits.
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            const float* mask, int64_t N, int V, float scale);
// Both at once for training: returns the loss of cross_entropy_forward and turns logits
// into the dlogits of cross_entropy_backward in place (one exp per logit instead of two).
// row_loss[N] receives each row's unweighted loss (0 for masked rows).
float cross_entropy_fused(float* logits, float* row_loss, const int32_t* targets, const float* mask, int64_t N, int V,
                          float scale);

// Per-row log-probability of the target: logp[n] = logits[n, targets[n]] - lse[n]
// (lse from cross_entropy_forward).
void target_logprobs(float* logp, const float* logits, const float* lse, const int32_t* targets, int64_t N, int V);
// For a loss given as a function of those log-probabilities (policy gradients):
// dlogits = dlogp[n] * (onehot(target) - softmax(logits)); dlogits may alias logits.
// Weights may have any sign; rows with dlogp 0 get zero gradients.
void logprob_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                      const float* dlogp, int64_t N, int V);

}  // namespace veritas::kernels
