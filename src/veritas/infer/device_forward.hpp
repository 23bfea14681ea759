#pragma once
// The Llama / Qwen2 forward pass on a backend other than the plain CPU (`--device cuda`;
// `cpu-staged` runs the same code on the CPU's kernels in the tests). Engine keeps the
// host side (loading, tokens, embedding lookups, sampling, the KV caches' bookkeeping) and
// hands each batch of tokens here: the weights, activations and KV caches live on the
// backend, and only the token embeddings go up and the wanted logits come down.
//
// Weights (the engine's as loaded, dequantized row by row and stored once): fp32; bf16
// (products in bf16 with fp32 sums); or Q8 — blocks of 32 int8 values with an fp32 scale,
// Q8_0's rule (a Q8_0 block comes back as it was), fp32 activations — about a quarter of
// fp32's bytes, for decoding that is bound by reading the weights. A matrix whose rows are
// not whole blocks stays bf16. KV caches are fp32 or fp16 on the device.
//
// Recorded steps: where the backend can record (a CUDA graph), a pass of T tokens whose
// logits are all wanted (a decode step of T sequences) is run once as usual, recorded
// the second time and replayed after that: one launch instead of about 12 a layer. The
// per-step inputs (embeddings, positions, cache addresses) are uploaded into the same
// buffers before each replay; growing a buffer forgets the recordings.
#include <map>
#include <set>
#include <cstdint>
#include <vector>

#include "veritas/backend/backend.hpp"
#include "veritas/infer/kernels.hpp"
#include "veritas/model/config.hpp"

namespace veritas::infer {

// The engine's host weights, read once at construction.
struct HostLayer {
  const float* attn_norm;
  const float* mlp_norm;
  const QMatrix* wqkv;  // [q; k; v] rows
  const float* bqkv;    // q, k, v biases or nullptr
  const QMatrix* wo;
  const QMatrix* w13;   // gate and up rows interleaved (gate 0, up 0, gate 1, ...)
  const QMatrix* w2;
};
struct HostModel {
  const ModelConfig* cfg;
  std::vector<HostLayer> layers;
  const float* final_norm;
  const QMatrix* head;
};

// One sequence's keys and values on the device: [layer][position][kv_heads * head_dim] each,
// fp32 or fp16.
struct DeviceKV {
  DeviceBuffer k, v;
};

enum class WeightType { F32, BF16, Q8 };

class DeviceForward {
 public:
  // kv_f16: the KV caches hold IEEE halves (each value rounded once, attention in fp32, as
  // the CPU engine's --kv-cache f16) instead of fp32.
  DeviceForward(Backend& be, const HostModel& m, WeightType weights, bool kv_f16, bool record_steps = true);
  ~DeviceForward();
  DeviceForward(const DeviceForward&) = delete;
  DeviceForward& operator=(const DeviceForward&) = delete;
  Backend& backend() const { return be_; }
  size_t weight_bytes() const { return weight_bytes_; }

  DeviceKV new_kv(int capacity) const;
  // Copies positions [0, n) of every layer from `from` (capacity cap) to `to`.
  void copy_kv(DeviceKV& to, const DeviceKV& from, int cap, int n) const;

  struct Token {
    DeviceKV* kv;
    int cap;  // the cache's capacity (positions)
    int pos;
  };
  // T tokens with their embeddings x_host [T, hidden] (already scaled); logits of the
  // tokens listed in `want`, in that order, into logits_host [want.size(), vocab].
  // rope_cos / rope_sin: the engine's tables [rope_len][head_dim / 2].
  void run(const float* x_host, const Token* tokens, int T, const std::vector<int>& want, float* logits_host,
           const float* rope_cos, const float* rope_sin, int rope_len);

 private:
  struct Weight {  // one matrix on the device: rows of fp32, bf16 or int8 (with scales)
    DeviceBuffer data, scale;
    int rows = 0, cols = 0;
    WeightType type = WeightType::F32;
  };
  struct Layer {
    DeviceBuffer attn_norm, mlp_norm, bqkv;
    Weight wqkv, wo, w13, w2;  // w13 as [gate rows; up rows] (swiglu_forward's layout)
  };
  Backend& be_;
  WeightType type_;
  bool kv_f16_, record_;
  size_t kv_elem() const { return kv_f16_ ? 2 : 4; }
  std::map<int, int> recorded_;  // tokens per pass -> the backend's recording
  std::set<int> ran_once_;       // passes run once unrecorded (their scratch exists)
  int H, nh, nkv, hd, qd, kvd, I, V, L;
  float eps;
  size_t weight_bytes_ = 0;
  std::vector<Layer> layers_;
  DeviceBuffer final_norm_;
  Weight head_;
  int rope_len_ = 0;
  DeviceBuffer cos_, sin_;
  // Scratch, grown to the largest batch.
  int cap_T_ = 0, cap_W_ = 0;
  DeviceBuffer x_, xn_, qkv_, att_, gu_, h_, rstd_, xw_, logits_, ptrs_, pos_;

  Weight upload(const QMatrix& m, bool interleaved_pairs);
  DeviceBuffer upload_floats(const float* p, size_t n);
  void matmul(float* out, const float* in, const Weight& w, int T, bool accumulate);
  void grow(int T, int W);
  void forget_recordings();
  // The layers and the head for T tokens after their inputs are uploaded; in_order: the
  // wanted rows are 0..T-1 (then no memory call, so that it can be recorded).
  void forward(int T, const std::vector<int>& want, bool in_order);
};

}  // namespace veritas::infer
