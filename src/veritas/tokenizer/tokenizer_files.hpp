#pragma once
// A tokenizer.json with the Hugging Face files that sit next to it and complete it:
// tokenizer_config.json (chat_template, eos_token), chat_template.jinja and
// generation_config.json (eos_token_id). Generation (infer/hf_model), SFT and self-play
// read a model's tokenizer through here, so a checkpoint imported from SmolLM2 keeps its
// chat template and end-of-sequence token through training.
#include <filesystem>
#include <string>
#include <vector>

#include "veritas/tokenizer/tokenizer.hpp"

namespace veritas {

// tokenizer_json plus its sibling files; an unknown chat template or an eos that is not
// a token is an Error naming the file.
Tokenizer load_tokenizer_files(const std::filesystem::path& tokenizer_json);
// The sibling files above (names), those a checkpoint copies along with tokenizer.json.
const std::vector<std::string>& tokenizer_side_files();
// Writes tokenizer.json, and tokenizer_config.json with the chat template and eos token
// when the tokenizer has them, into dir (atomic writes).
void save_tokenizer_files(const Tokenizer& tok, const std::filesystem::path& dir);

}  // namespace veritas
