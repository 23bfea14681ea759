#pragma once
// A GGUF model as veritas sees it: the Llama hyper-parameters, the weights under their
// Hugging Face names (so Engine::from_weights and the tests take them unchanged) and the
// tokenizer. Architectures: llama (Llama 2/3, SmolLM, Mistral) and qwen2 (q/k/v biases).
//
// llama.cpp's converter permutes the rows of q_proj and k_proj of llama models so that
// rotary embedding rotates adjacent pairs (x[2i], x[2i+1]); veritas, like Hugging Face,
// rotates (x[i], x[i + head_dim/2]). The weight source undoes that permutation: GGUF row
// h*hd + 2*i + t is Hugging Face row h*hd + t*hd/2 + i. qwen2 files are not permuted.
#include <filesystem>
#include <optional>
#include <string>

#include "veritas/infer/engine.hpp"
#include "veritas/model/config.hpp"
#include "veritas/model/gguf.hpp"
#include "veritas/tokenizer/tokenizer.hpp"

namespace veritas::infer {

// Throws Error naming the file and key for an unknown architecture or a missing field.
ModelConfig gguf_config(const GgufFile& f);
// Fills dst (fp32, shape in PyTorch order) with Hugging Face tensor `name`; false when
// the model has no such tensor.
WeightSource gguf_weights(const GgufFile& f, const ModelConfig& cfg);
// The same tensors as raw Q8_0 / Q4_0 / Q4_1 / Q4_K / Q5_K / Q6_K block rows (Precision::GGUF), q/k rows
// reordered the same way; false for tensors of other types.
BlockSource gguf_blocks(const GgufFile& f, const ModelConfig& cfg);
// tokenizer.ggml.pre -> pre-tokenization: smollm, gpt2 (or absent: "default"),
// llama-bpe (llama3, llama-v3), qwen2; nullopt for any other name.
std::optional<PreTokenization> gguf_pre_tokenization(const std::string& pre);
// tokenizer.ggml.model = gpt2 with one of those pre-tokenizers (others: Error naming
// them); the chat template is checked (recognize_chat_template) here, at load.
Tokenizer gguf_tokenizer(const GgufFile& f);

}  // namespace veritas::infer
