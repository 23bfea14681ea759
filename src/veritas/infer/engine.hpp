#pragma once
// Generation engine: loads a checkpoint folder (config.json + model.safetensors, Hugging
// Face Llama names, optional tokenizer.json) or a GGUF file, keeps the weights in fp32,
// bf16, int8 or a GGUF file's own blocks, and runs the Llama forward pass with a
// per-sequence KV cache.
//
//   Engine eng = Engine::load("ckpt", {.precision = Precision::BF16});
//   Generation g = eng.generate(prompt_ids, opts, [](int32_t id, std::string_view text) {
//     std::cout << text << std::flush; return true; });
//
// k answers to one prompt (self-play) share the prompt's KV cache: generate_k() runs the
// prompt once, forks the cache k times and decodes the k sequences as one batch, so each
// step reads the weights once for all k.
//
// Results do not depend on how tokens are grouped: a prompt processed in one call, token
// by token, or inside a batch gives bit-identical logits.
//
// An Engine runs one call at a time (calls from several threads are serialized). Each
// forward pass runs on ThreadPool::global(); called from inside a job of that pool it
// runs on one thread (nested parallel_for calls run inline), so to use more cores,
// batch sequences (generate_k, forward_batch) instead.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "veritas/infer/kernels.hpp"
#include "veritas/infer/sampler.hpp"
#include "veritas/model/config.hpp"

namespace veritas {
class Tokenizer;
}

namespace veritas::infer {

struct DeviceKV;
class DeviceForward;

// Keys and values stored as fp32, or as fp16 (half the memory and attention reads;
// llama.cpp's default): each value rounded once when written, attention math in fp32.
enum class KVType { F32, F16 };
KVType parse_kv_type(const std::string& s);  // "f32" | "f16"; throws Error otherwise

struct EngineOptions {
  Precision precision = Precision::F32;
  KVType kv_cache = KVType::F32;
  // Where the forward pass runs: "cpu", or a backend (backend/backend.hpp: "cuda", and
  // "cpu-staged" for tests) that holds the weights (fp32 for precision fp32, Q8 blocks for
  // gguf, else bf16), activations and KV caches (of kv_cache's type) while the host keeps
  // its copy of the weights (embeddings are looked up there) and samples
  // (infer/device_forward.hpp).
  std::string device = "cpu";
  bool record_steps = true;  // on a device: replay decode steps as recorded ones (CUDA graphs)
  int context = 0;              // default KV-cache length; 0 = max_position_embeddings
  bool load_tokenizer = true;   // read <dir>/tokenizer.json when present
};

// Keys and values of one sequence, preallocated for `capacity` positions.
class KVCache {
 public:
  KVCache() = default;
  int size() const { return n_; }  // positions filled
  int capacity() const { return cap_; }
  void clear() { n_ = 0; }
  void truncate(int n);    // forget positions >= n (rewind)
  KVCache fork() const;    // independent copy (same capacity) of the filled part
  KVType type() const { return type_; }
  size_t bytes() const;  // allocated, filled or not (on the engine's device when it has one)

 private:
  friend class Engine;
  int layers_ = 0, kv_heads_ = 0, head_dim_ = 0, cap_ = 0, n_ = 0;
  KVType type_ = KVType::F32;
  size_t elem_ = sizeof(float);  // bytes per stored value
  Buffer<uint8_t> k_, v_;  // [layer][kv_head][position][head_dim] of fp32 or fp16 values
  // On a device engine, the keys and values there instead (k_ and v_ stay empty).
  std::shared_ptr<DeviceKV> dev_;
  const DeviceForward* devf_ = nullptr;
  size_t slab(int layer, int head) const { return ((size_t)(layer * kv_heads_ + head) * cap_) * head_dim_ * elem_; }
  uint8_t* k(int layer, int head) { return k_.data() + slab(layer, head); }
  uint8_t* v(int layer, int head) { return v_.data() + slab(layer, head); }
};

enum class FinishReason { Length, Stop, Callback, ContextFull };
const char* finish_reason_name(FinishReason r);  // "length", "stop", "callback", "context"

struct Generation {
  std::vector<int32_t> tokens;  // generated ids; a stop token is not included
  std::string text;             // decoded text (needs a tokenizer), cut before a stop string
  FinishReason finish = FinishReason::Length;
  int prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

// Called once per generated token with the text that became final with it (may be empty:
// an incomplete UTF-8 sequence or a possible stop-string prefix is held back). Return
// false to stop. Without a tokenizer, text is always empty.
using TokenCallback = std::function<bool(int32_t token, std::string_view text)>;
using BatchTokenCallback = std::function<bool(int seq, int32_t token, std::string_view text)>;

// Weight source for from_weights: copy tensor `name` (fp32, given shape) into dst and
// return true, or return false when the tensor is absent.
using WeightSource =
    std::function<bool(const std::string& name, const std::vector<int64_t>& shape, float* dst)>;
// For Precision::GGUF: the rows of tensor `name` as Q8_0/Q4_0/Q4_1/Q4_K/Q5_K/Q6_K blocks (type in p),
// or false when the tensor is absent or of another type (then WeightSource is used).
using BlockSource = std::function<bool(const std::string& name, const std::vector<int64_t>& shape, Precision& p,
                                       std::vector<uint8_t>& rows)>;

class Engine {
 public:
  Engine();
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  // Throws Error naming the file and tensor on a missing or malformed checkpoint.
  // `dir` may also be a GGUF file (see load_gguf).
  static Engine load(const std::filesystem::path& dir, const EngineOptions& opt = {});
  // A llama.cpp GGUF model (architectures llama and qwen2; gguf_model.cpp): weights
  // dequantized from any supported type, its tokenizer and chat template.
  static Engine load_gguf(const std::filesystem::path& file, const EngineOptions& opt = {});
  static Engine from_weights(const ModelConfig& cfg, const WeightSource& src, const EngineOptions& opt = {},
                             const BlockSource& blocks = {});

  const ModelConfig& config() const;
  Precision precision() const;
  std::string device() const;  // "cpu", or the backend's description (name and device)
  const Tokenizer* tokenizer() const;  // nullptr when the checkpoint has none
  void set_tokenizer(std::shared_ptr<const Tokenizer> tok);
  size_t weight_bytes_per_token() const;  // bytes of weights read by one decode step
  // The input embedding row of a token (hidden_size floats, before any model-specific
  // scaling): which tokens the model treats as alike.
  void token_embedding(int32_t id, float* out) const;

  KVCache new_cache(int capacity = 0) const;  // 0 = EngineOptions::context

  // Appends ids[0..n) to the cache. logits gets [vocab] floats for the last token, or
  // [n, vocab] when all_logits. Throws if the cache would overflow.
  void forward(KVCache& cache, const int32_t* ids, int n, float* logits, bool all_logits = false);
  // One token for each of several sequences (weights read once for the batch):
  // logits [B, vocab].
  void forward_batch(const std::vector<KVCache*>& caches, const int32_t* ids, float* logits);

  // Fresh cache: prompt then up to max_tokens sampled tokens.
  Generation generate(const std::vector<int32_t>& prompt, const SamplingOptions& opt,
                      const TokenCallback& on_token = {});
  // Continues `cache` (which holds earlier context): feeds `input`, then samples. On
  // return the cache holds the input and every generated token except a final stop token.
  Generation generate(KVCache& cache, const std::vector<int32_t>& input, const SamplingOptions& opt,
                      const TokenCallback& on_token = {});
  // k samples of one prompt sharing its KV cache; sequence i samples with seed opt.seed + i.
  std::vector<Generation> generate_k(const std::vector<int32_t>& prompt, int k, const SamplingOptions& opt,
                                     const BatchTokenCallback& on_token = {});

  // Token ids that end generation when SamplingOptions::stop_at_end_tokens is set.
  std::vector<int32_t> end_tokens() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace veritas::infer
