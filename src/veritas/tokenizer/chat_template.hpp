#pragma once
// The chat template, shared by generation (infer/), SFT training (train/) and evaluation:
//
//   <|role|>\n{content}<|end|>\n        role: system | user | assistant
//
// and a prompt that asks for the next reply ends with "<|assistant|>\n". Role and end
// markers are the tokenizer's special tokens; message contents are encoded as plain text,
// so a user typing "<|end|>" cannot forge a turn. The token sequence equals
// encode_with_specials() of the template text whenever contents hold no special strings.
#include <cstdint>
#include <string>
#include <vector>

#include "veritas/tokenizer/tokenizer.hpp"

namespace veritas {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// The template as text (for display, docs and training data); throws Error on an unknown role.
std::string chat_text(const std::vector<ChatMessage>& messages, bool add_generation_prompt);
// The template as token ids; throws Error if the tokenizer lacks a role token.
std::vector<int32_t> chat_tokens(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt);

}  // namespace veritas
