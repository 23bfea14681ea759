#pragma once
// A trainable veritas checkpoint from another model format: a GGUF file (any tensor type
// veritas reads, dequantized to fp32) or a Hugging Face directory (F32/F16/BF16). The
// output folder is the training layout: config.json + model.safetensors (fp32, the
// training model's tensor names and shapes) + tokenizer.json + tokenizer_config.json
// (the model's chat template and eos token), so `veritas train --init-from`, SFT and
// self-play run on it, and Engine::load reads it back with the same logits as the source
// dequantized to fp32.
#include <cstdint>
#include <filesystem>
#include <string>

#include "veritas/model/config.hpp"

namespace veritas::infer {

struct ImportResult {
  ModelConfig config;
  int64_t params = 0;
  std::string chat_template;  // "chatml", "llama3", "veritas"
};

// Writes into out (created; an existing non-empty folder is an Error) through a temporary
// folder renamed at the end, so a killed import leaves no half checkpoint. Models with
// q/k/v biases (qwen2) are an Error: the training model has none.
ImportResult import_checkpoint(const std::filesystem::path& src, const std::filesystem::path& out);

}  // namespace veritas::infer
