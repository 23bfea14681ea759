#pragma once
// Model hyper-parameters, read from and written to Hugging Face config.json
// (LlamaForCausalLM field names) so other tools can load our checkpoints.
#include <filesystem>

#include <nlohmann/json.hpp>

namespace veritas {

struct ModelConfig {
  int vocab_size = 8192;
  int hidden_size = 384;
  int intermediate_size = 1024;
  int num_hidden_layers = 6;
  int num_attention_heads = 6;
  int num_key_value_heads = 6;  // < num_attention_heads: grouped-query attention
  int max_position_embeddings = 256;
  float rope_theta = 10000.0f;
  float rms_norm_eps = 1e-5f;
  bool tie_word_embeddings = true;
  // q/k/v projections carry biases (Qwen2). Set by model importers (GGUF) for inference;
  // the training model has none, and config.json does not carry it.
  bool attention_bias = false;

  int head_dim() const { return hidden_size / num_attention_heads; }
  int64_t num_params() const;
  void validate() const;  // throws Error naming the bad field

  static ModelConfig from_json(const nlohmann::json& j);  // validates
  nlohmann::json to_json() const;  // + "architectures", "model_type": "llama", "torch_dtype"
  static ModelConfig load(const std::filesystem::path& config_json);
  void save(const std::filesystem::path& config_json) const;  // atomic
};

}  // namespace veritas
