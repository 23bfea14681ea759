#pragma once
// Model hyper-parameters, read from and written to Hugging Face config.json
// (LlamaForCausalLM field names) so other tools can load our checkpoints.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace veritas {

// A tensor as a checkpoint stores it, looked up by Hugging Face name: the name to show in
// errors (the file's own, such as a GGUF name) and the shape in PyTorch order.
struct StoredTensor {
  std::string name;
  std::vector<int64_t> shape;
};
using StoredTensorOf = std::function<std::optional<StoredTensor>(const std::string& hf_name)>;
struct TensorInfo;  // model/safetensors.hpp

struct ModelConfig {
  int vocab_size = 8192;
  int hidden_size = 384;
  int intermediate_size = 1024;
  int num_hidden_layers = 6;
  int num_attention_heads = 6;
  int num_key_value_heads = 6;  // < num_attention_heads: grouped-query attention
  int max_position_embeddings = 256;
  float rope_theta = 10000.0f;
  // false: no position encoding at all (NoPE); attention sees order only through the causal
  // mask. The rotary tables become the identity, so training and decoding run unchanged.
  // config.json: "position_encoding": "rope" | "none" — veritas's own field (transformers and
  // llama.cpp would add rotary), so such a model stays in veritas and GGUF export refuses it.
  bool rope = true;
  float rms_norm_eps = 1e-5f;
  bool tie_word_embeddings = true;
  // q/k/v projections carry biases (Qwen2). Set by model importers (GGUF) for inference;
  // the training model has none, and config.json does not carry it.
  bool attention_bias = false;
  // Set by the GGUF importer only (not in config.json, not trained); the defaults are the
  // Llama decoder. head_dim_override: a head size other than hidden_size / heads.
  int head_dim_override = 0;
  // Gemma 3's decoder: embeddings scaled by sqrt(hidden_size), per-head RMSNorm of q and k
  // before rotary, RMSNorm of the attention and MLP outputs before each residual add,
  // GeGLU (tanh gelu) instead of SwiGLU, attention scale 1/sqrt(query_pre_attn_scalar),
  // and every layer but each sliding_pattern-th one attends to the last sliding_window
  // positions only, with rotary base rope_local_theta.
  bool gemma3 = false;
  float query_pre_attn_scalar = 0;  // 0: head_dim
  int sliding_window = 0;           // 0: every layer attends to all positions
  int sliding_pattern = 0;          // layer l is global when (l + 1) % sliding_pattern == 0
  float rope_local_theta = 0;

  int head_dim() const { return head_dim_override > 0 ? head_dim_override : hidden_size / num_attention_heads; }
  bool is_sliding_layer(int l) const {
    return sliding_window > 0 && sliding_pattern > 0 && (l + 1) % sliding_pattern != 0;
  }
  int64_t num_params() const;
  void validate() const;  // throws Error naming the bad field
  // Checks the sizes declared here against the tensors a checkpoint stores (embedding,
  // layer 0's projections, the last layer's norm), so that a corrupt or mismatched config
  // is a clear error before anything is allocated from its sizes. Throws Error naming
  // origin, the tensor and the config fields.
  void check_stored_shapes(const StoredTensorOf& stored, const std::string& origin) const;
  // The same against a safetensors file's tensor list (SafeTensors::tensors(), or the
  // header alone: read_safetensors_header).
  void check_stored_shapes(const std::vector<TensorInfo>& tensors, const std::string& origin) const;
  // ... against the header of a safetensors file (its tensor data is not read).
  void check_safetensors(const std::filesystem::path& file) const;

  static ModelConfig from_json(const nlohmann::json& j);  // validates
  nlohmann::json to_json() const;  // + "architectures", "model_type": "llama", "torch_dtype"
  static ModelConfig load(const std::filesystem::path& config_json);
  // A checkpoint folder's config.json, checked against its model.safetensors' header
  // (check_safetensors) so that nothing is sized from a damaged config.
  static ModelConfig load_checkpoint(const std::filesystem::path& dir);
  void save(const std::filesystem::path& config_json) const;  // atomic
};

}  // namespace veritas
