#pragma once
// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization") with bias
// correction, laid out like torch.optim.AdamW so its results can be checked against it:
//   p <- p * (1 - lr * wd)             (decoupled decay; wd = 0 for 1-D params, e.g. norms)
//   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2
//   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Each element is updated independently, so the result does not depend on threading.
// The trainer runs the same arithmetic on its backend (kernels/optimizer.hpp), with the
// global gradient norm (fixed-order sums of squares) and clipping.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "veritas/model/model.hpp"

namespace veritas {

// Doubles like PyTorch's Python floats: 1 - beta1 is formed in double, then rounded once.
struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
};

// Decay applies to matrices (linear weights, embeddings), never to 1-D tensors (RMSNorm
// weights): scaling a norm's gain towards zero only fights the normalization.
bool adamw_decays(const Param& p);

class AdamW {
 public:
  AdamW() = default;
  AdamW(const std::vector<Param>& params, AdamWConfig cfg);

  // One update with learning rate lr using the gradients in params (same order and
  // shapes as at construction); params with trainable = false are left untouched (no
  // decay either). Increments step().
  void step(std::vector<Param>& params, float lr);
  int64_t step_count() const { return t_; }
  const AdamWConfig& config() const { return cfg_; }
  void set_config(const AdamWConfig& c) { cfg_ = c; }

  // First and second moments, named "<param>.exp_avg" / "<param>.exp_avg_sq" in files.
  const std::vector<std::vector<float>>& m() const { return m_; }
  const std::vector<std::vector<float>>& v() const { return v_; }

  // optimizer.safetensors: the moments (F32) with the parameter names, the step count
  // and hyper-parameters in the metadata. Atomic write.
  void save(const std::filesystem::path& path, const std::vector<Param>& params) const;
  // Checks that every parameter has both moments with the right shape; throws Error naming
  // the file and the missing or mismatched tensor.
  void load(const std::filesystem::path& path, const std::vector<Param>& params);

 private:
  AdamWConfig cfg_;
  int64_t t_ = 0;
  std::vector<std::vector<float>> m_, v_;
  std::vector<char> decay_;
};

// Writes optimizer.safetensors (AdamW::save's format) from moments given per parameter:
// ZeRO-1 writes the moments it gathered into flat buffers without copying them.
void save_adamw_state(const std::filesystem::path& path, const std::vector<Param>& params,
                      const std::vector<const float*>& m, const std::vector<const float*>& v, int64_t t,
                      const AdamWConfig& cfg);

// AdamW::step's update of n consecutive elements of one tensor (ZeRO-1 updates its shard
// with it); t is the step count including this update. The same bits as step().
void adamw_update(float* w, const float* g, float* m, float* v, int64_t n, bool decay, float lr,
                  const AdamWConfig& cfg, int64_t t);

}  // namespace veritas
