#pragma once
// Llama-style decoder for training on CPU: token embedding, RMSNorm, RoPE, grouped-query
// causal attention, SwiGLU MLP, no biases, tied or untied head. fp32 master weights.
// Parameters carry Hugging Face Llama tensor names (model.embed_tokens.weight, ...).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "veritas/model/config.hpp"

namespace veritas {

struct Param {
  std::string name;            // HF Llama name
  std::vector<int64_t> shape;  // PyTorch layout, e.g. q_proj.weight is [out, in]
  float* data = nullptr;  // host copy (files, the CPU optimizer)
  float* grad = nullptr;  // host gradient; nullptr on a device backend (see dev_grad)
  float* dev_data = nullptr;  // the backend's copies the kernels use (the same pointers on the CPU)
  float* dev_grad = nullptr;
  int64_t size = 0;
  bool trainable = true;  // false: frozen (Model::set_train_from_layer); its gradient stays zero
};

class Backend;
Backend& cpu_backend();

class Model {
 public:
  // Allocates weights, gradients and the activations for batches up to max_batch x max_seq
  // (nothing is allocated inside a step) on `backend` (backend/backend.hpp). On a device
  // backend the kernels use the device copies (Param::dev_data, dev_grad); the host copy
  // (Param::data) is what init_weights and load fill and save writes, and upload_weights /
  // download_weights move it (load and init upload, save downloads).
  Model(const ModelConfig& cfg, int max_batch, int max_seq, Backend& backend = cpu_backend());
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const;
  std::vector<Param>& params();
  Backend& backend() const;
  void upload_weights();    // host -> device after changing Param::data (no-op on the CPU)
  void download_weights();  // device -> host (no-op on the CPU)
  void init_weights(uint64_t seed);                        // normal(0, 0.02), norms at 1
  void load(const std::filesystem::path& safetensors);     // checks names and shapes
  void save(const std::filesystem::path& safetensors) const;  // atomic

  // inputs/targets: B*T token ids; mask: B*T weights (nullptr = all ones).
  // Returns the mean masked cross-entropy and ADDS grad_scale * d(loss)/d(param) to grads.
  float forward_backward(const int32_t* inputs, const int32_t* targets, const float* mask, int B, int T,
                         float grad_scale = 1.0f);
  float forward_loss(const int32_t* inputs, const int32_t* targets, const float* mask, int B, int T);
  void forward_logits(const int32_t* inputs, int B, int T, float* logits);  // [B, T, vocab]
  // logp[n] = log p(targets[n] | inputs up to n), for all B*T positions (targets must be
  // valid ids everywhere; pad with any id and ignore those positions).
  void token_logprobs(const int32_t* inputs, const int32_t* targets, int B, int T, float* logp);
  // For losses that are functions of the targets' log-probabilities (policy gradients,
  // selfplay/policy_loss.hpp): runs the forward pass, calls loss_fn(logp, dlogp), which
  // returns the loss and fills dlogp[n] = d(loss)/d(logp[n]), and ADDS d(loss)/d(param)
  // to the gradients. Returns loss_fn's loss.
  double forward_backward_logprob(const int32_t* inputs, const int32_t* targets, int B, int T,
                                  const std::function<double(const float* logp, float* dlogp)>& loss_fn);
  void zero_grad();
  // Trains only layers [first, num_hidden_layers), the final norm and an untied head:
  // the embeddings (and with them a tied head) and the layers below `first` are frozen,
  // and the backward pass stops at layer `first` (no work for the frozen part beyond the
  // head's input gradient). 0 = everything trains. Frozen params get trainable = false.
  void set_train_from_layer(int first);
  int train_from_layer() const;
  // Called during each backward pass as soon as the gradients of params()[first, end) are
  // final (head, then each layer from the last, then the embeddings), so data-parallel
  // training can start reducing them while the rest of the backward runs. Empty = none.
  void set_grad_ready_hook(std::function<void(size_t first, size_t end)> hook);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace veritas
