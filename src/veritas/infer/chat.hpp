#pragma once
// Chat template (documented in docs/inference.md). Each message is
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

#include "veritas/infer/engine.hpp"

namespace veritas {
class Tokenizer;
}

namespace veritas::infer {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// The template as text (for display, docs and training data).
std::string chat_text(const std::vector<ChatMessage>& messages, bool add_generation_prompt);
// The template as token ids; throws Error if the tokenizer lacks a role token.
std::vector<int32_t> chat_tokens(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt);

// A multi-turn conversation that keeps its KV cache between turns: each reply feeds only
// the new tokens. When the context would overflow, the oldest turns are dropped (the
// system message stays) and the rest is fed again.
class ChatSession {
 public:
  ChatSession(Engine& engine, std::string system_prompt = {}, int context = 0);
  Generation reply(const std::string& user_message, const SamplingOptions& opt, const TokenCallback& on_token = {});
  const std::vector<ChatMessage>& messages() const { return msgs_; }
  void reset();  // forget the conversation (keeps the system prompt)
  int cached_tokens() const { return cache_.size(); }

 private:
  Engine& eng_;
  std::string system_;
  KVCache cache_;
  std::vector<ChatMessage> msgs_;
};

}  // namespace veritas::infer
