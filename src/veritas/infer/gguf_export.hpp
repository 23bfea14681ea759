#pragma once
// veritas checkpoint -> GGUF file that llama.cpp loads (`veritas export --gguf`).
//
// Architecture `llama`; tensors under llama.cpp's names (token_embd, blk.N.attn_q, ...,
// output_norm, output when the head is untied). q_proj/k_proj rows get llama.cpp's rotary
// permutation (Hugging Face row h*hd + t*hd/2 + i becomes GGUF row h*hd + 2*i + t), the
// inverse of what the reader (gguf_model.hpp) undoes. Matrices are stored as F32, F16 or
// Q8_0; norm weights always F32, and a matrix whose rows are not a multiple of 32 falls
// back from Q8_0 to F16 (as llama.cpp's converter does).
//
// Tokenizer: tokenizer.ggml.model = gpt2 (byte-level BPE) with pre = "gpt-2" (llama.cpp's
// name for GPT-2's split pattern, the one veritas's tokenizers use) or "smollm" (digits
// split), tokens as GPT-2 byte-mapped strings, merges, token types (special added tokens
// are control tokens, other added tokens user-defined), bos = eos = <|endoftext|>,
// eot = <|end|> when present, no automatic BOS. Ids the tokenizer leaves empty, and the
// ids between the tokenizer's size and the model's vocab_size, are unused tokens
// "[PAD<id>]" so the token list matches the embedding rows. The chat template is the
// tokenizer's own Jinja, or veritas's template as Jinja when the tokenizer has its markers.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "veritas/model/config.hpp"
#include "veritas/model/quant.hpp"
#include "veritas/tokenizer/tokenizer.hpp"

namespace veritas::infer {

// Fills dst (fp32, PyTorch shape) with the Hugging Face tensor `name`; false if absent.
using ExportSource = std::function<bool(const std::string& name, const std::vector<int64_t>& shape, float* dst)>;

// type: F32, F16 or Q8_0. Writes atomically (temporary file, then rename). Throws Error.
void export_gguf(const ModelConfig& cfg, const ExportSource& weights, const Tokenizer& tok, GgmlType type,
                 const std::string& name, const std::filesystem::path& out);

// A checkpoint folder (config.json + model.safetensors + tokenizer.json, or a training
// run's folder holding checkpoint/). tokenizer_json overrides the checkpoint's own.
void export_checkpoint_gguf(const std::filesystem::path& checkpoint, const std::filesystem::path& tokenizer_json,
                            GgmlType type, const std::filesystem::path& out);

}  // namespace veritas::infer
