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
void set_device(int device);  // this thread's current device (before any allocation)
void copy_on_device(void* dst, const void* src, size_t bytes);
void zero(void* dst, size_t bytes);
void synchronize();

// CUDA graphs: the kernels launched on `stream` between capture_begin and capture_end
// become one executable graph, launched again by graph_launch. stream_create makes a
// blocking stream (ordered with the default stream's synchronous copies).
void* stream_create();
void capture_begin(void* stream);
void* capture_end(void* stream);  // the executable graph
void graph_launch(void* exec, void* stream);
void graph_destroy(void* exec);

// The cuBLASLt file the products load ("libcublasLt.so.13"); the environment variable
// VERITAS_CUBLASLT may name another path.
extern const char kCublasLtSoname[];
// Loads cuBLASLt (load_cublaslt) or NCCL (load_nccl) and resolves every entry point
// veritas uses, which needs no GPU: Error naming the file or symbol that is missing.
void load_cublaslt();
void load_nccl();
// Matrix products through cuBLASLt (matmul.cu; the library is loaded at the first call),
// the CPU kernels' semantics:
//   out[N, OC] (+)= inp[N, C] · w[OC, C]^T;  dinp (+)= dout · w;  dw += dout^T · inp
// (dinp or dw nullptr: skipped). fp32 with fp32 sums; with bf16_scratch (device memory for
// matmul_bf16_scratch(N, C, OC) bf16 values) the inputs are rounded to bf16 there first and
// the tensor cores' products summed in fp32, as the CPU's --matmul bf16.
int64_t matmul_bf16_scratch(int64_t N, int C, int OC);
void matmul_forward(float* out, const float* inp, const float* w, int64_t N, int C, int OC, bool accumulate,
                    uint16_t* bf16_scratch = nullptr, void* stream = nullptr);
void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, int64_t N, int C,
                     int OC, bool accumulate_dinp, uint16_t* bf16_scratch = nullptr, void* stream = nullptr);

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

// The rest of a training step's kernels, with the CPU kernels' semantics (see their
// comments in kernels/kernels.hpp and train/adamw.hpp).
//
// out[n] = table[tokens[n]]; dtable[tokens[n]] += dout[n], rows added in token order
// (bit-identical to the CPU; no atomics).
void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t N, int C, void* stream = nullptr);
void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t N, int C,
                        void* stream = nullptr);
// Rotary embedding in place on rows of n_heads * head_dim values, row n at x + n *
// row_stride, position n % T; cos_t / sin_t: kernels::rope_tables' tables on the device.
// The backward pass rotates by the opposite angle.
void rope_forward(float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                  int64_t row_stride, void* stream = nullptr);
void rope_backward(float* dx, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                   int64_t row_stride, void* stream = nullptr);
// SwiGLU on rows gate | up of gu [N, 2I]: out [N, I] = silu(gate) * up; dgu may alias gu.
void swiglu_forward(float* out, const float* gu, int64_t N, int I, void* stream = nullptr);
void swiglu_backward(float* dgu, const float* dout, const float* gu, int64_t N, int I, void* stream = nullptr);
// Causal grouped-query attention on the fused projection qkv [B, T, (H + 2 KVH) hd]: out
// [B, T, H hd], probs [B, H, T, T] the softmax weights (zero above the diagonal). The
// backward pass overwrites dqkv (same layout as qkv) and turns probs into the scores'
// gradients. Direct kernels, O(T^2 hd) work (see attention.cu).
void attention_forward(float* out, float* probs, const float* qkv, int B, int T, int H, int KVH, int hd,
                       void* stream = nullptr);
void attention_backward(float* dqkv, float* probs, const float* dout, const float* out, const float* qkv, int B, int T,
                        int H, int KVH, int hd, void* stream = nullptr);
// Masked cross-entropy, forward and backward at once: logits [N, V] become the gradient
// scale * mask/sum(mask) * (softmax - onehot) in place, row_loss[N] each row's loss (0 where
// the mask is 0; mask nullptr: all ones); returns sum(mask * loss) / sum(mask). Synchronizes.
float cross_entropy_fused(float* logits, float* row_loss, const int32_t* targets, const float* mask, int64_t N, int V,
                          float scale, void* stream = nullptr);
// Sums across GPUs through NCCL (nccl.cu; kNcclSoname, or the file VERITAS_NCCL names, is
// loaded at the first call). Rank 0 draws the id, every rank passes it to nccl_init with
// its rank. nccl_start_sum starts an in-place all-reduce on the communicator's own stream,
// after the work queued so far on the default stream (so it overlaps what comes next);
// nccl_wait returns when every started sum is done.
constexpr int kNcclIdBytes = 128;
extern const char kNcclSoname[];
void nccl_unique_id(char id[kNcclIdBytes]);
void* nccl_init(const char id[kNcclIdBytes], int ranks, int rank);
void nccl_start_sum(void* comm, float* x, int64_t n);
void nccl_wait(void* comm);
// ZeRO-1 over contiguous ranges [begin[r], end[r]) of the ranks (synchronous): out = the
// sum over the ranks of in's range of `rank`; all_gather: every range of buf from its rank.
void nccl_reduce_scatter(void* comm, const float* in, float* out, const int64_t* begin, const int64_t* end, int ranks,
                         int rank);
void nccl_all_gather(void* comm, float* buf, const int64_t* begin, const int64_t* end, int ranks);

// Per-token log-probabilities for self-play's losses (kernels::cross_entropy_forward's lse
// and kernels::target_logprobs at once): lse[n] and logp[n] = logits[n, targets[n]] - lse[n].
void target_logprobs(float* logp, float* lse, const float* logits, const int32_t* targets, int64_t N, int V,
                     void* stream = nullptr);
// dlogits = dlogp[n] * (onehot(target) - softmax(logits)), as kernels::logprob_backward;
// dlogits may alias logits.
void logprob_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                      const float* dlogp, int64_t N, int V, void* stream = nullptr);
// One AdamW update of n values at step t >= 1 (decay: the parameter takes weight decay),
// bit-identical to the CPU's adamw_update.
void adamw_update(float* w, const float* g, float* m, float* v, int64_t n, bool decay, float lr, double beta1,
                  double beta2, double eps, double weight_decay, int64_t t, void* stream = nullptr);
// Sum of x[i]^2 in double, in a fixed order (the gradient norm's parts): a fixed number
// of partial sums, kept in `scratch` (device memory for kSumSquaresScratch doubles, the
// caller's, so a training step allocates nothing), added on the host. Synchronizes.
constexpr int kSumSquaresScratch = 256;
double sum_squares(const float* x, int64_t n, double* scratch, void* stream = nullptr);
// x *= s (gradient clipping)
void scale(float* x, int64_t n, float s, void* stream = nullptr);

// Inference (kernels/decode.hpp has the semantics and the CPU reference).
// out[N, OC] (+)= bf16(inp) · w^T with w bf16 bits [OC, C], fp32 sums: up to 8 tokens by
// a kernel that reads each weight once; more through cuBLASLt, inp rounded into scratch
// (matmul_bf16_scratch(N, C, 0) values).
void matmul_bf16_weights(float* out, const float* inp, const uint16_t* w, int64_t N, int C, int OC, bool accumulate,
                         uint16_t* scratch, void* stream = nullptr);
// out (+)= inp · w^T with w as blocks of 32 int8 values and an fp32 scale each
// (kernels::matmul_q8_weights), C a multiple of 32: a warp per output row, 16-byte loads,
// up to 8 tokens a launch (more: one launch per 8).
void matmul_q8_weights(float* out, const float* inp, const int8_t* q, const float* scale, int64_t N, int C, int OC,
                       bool accumulate, void* stream = nullptr);
void add_bias(float* x, const float* b, int64_t N, int C, void* stream = nullptr);
void rope_at(float* x, const float* cos_t, const float* sin_t, const int32_t* pos, int64_t N, int n_heads,
             int head_dim, int64_t row_stride, void* stream = nullptr);
// dst: a device array of N device row addresses; f16: rows of halves (an fp16 KV cache).
void scatter_rows(void* const* dst, const float* src, int64_t src_stride, int64_t N, int C, bool f16,
                  void* stream = nullptr);
// head_dim at most 256; f16: keys and values are halves.
void attention_cached(float* out, const float* q, int64_t q_stride, const void* const* kbase,
                      const void* const* vbase, const int32_t* pos, int64_t N, int H, int KVH, int hd,
                      int64_t kv_stride, bool f16, void* stream = nullptr);

}  // namespace veritas::cuda
