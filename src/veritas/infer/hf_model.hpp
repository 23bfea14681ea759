#pragma once
// Hugging Face model directories (and veritas's own checkpoints, which use the same
// layout): config.json with `architectures` LlamaForCausalLM or Qwen2ForCausalLM (q/k/v
// biases), weights in model.safetensors or in shards listed by
// model.safetensors.index.json (F32/F16/BF16), tokenizer.json plus, when present,
// tokenizer_config.json / chat_template.jinja (chat template, eos) and
// generation_config.json (eos). Every error names the file and the field.
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "veritas/infer/engine.hpp"
#include "veritas/model/config.hpp"
#include "veritas/model/safetensors.hpp"
#include "veritas/tokenizer/tokenizer.hpp"

namespace veritas::infer {

// config.json of `dir`. No `architectures` (older veritas checkpoints) reads as Llama.
ModelConfig hf_config(const std::filesystem::path& dir);

// The safetensors file(s) of `dir`, opened once; source() reads tensors by Hugging Face
// name, converting to fp32 and checking the shape (errors name the shard). open() first
// checks cfg's sizes against the stored shapes (ModelConfig::check_stored_shapes), so a
// mismatched config.json is an error before anything is allocated from it.
class HfWeights {
 public:
  static HfWeights open(const std::filesystem::path& dir, const ModelConfig& cfg);
  WeightSource source() const;
  const std::string& name() const { return name_; }  // model.safetensors or the index file

 private:
  static HfWeights open_files(const std::filesystem::path& dir);
  std::vector<std::shared_ptr<SafeTensors>> shards_;
  std::vector<std::string> paths_;
  std::unordered_map<std::string, int> where_;  // tensor -> shard
  std::string name_;
};

// tokenizer.json of `dir` with its chat template and end-of-sequence token.
Tokenizer hf_tokenizer(const std::filesystem::path& dir);

}  // namespace veritas::infer
