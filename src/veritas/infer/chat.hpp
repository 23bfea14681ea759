#pragma once
// A multi-turn chat session over the chat template of tokenizer/chat_template.hpp
// (documented in docs/inference.md).
#include <cstdint>
#include <string>
#include <vector>

#include "veritas/infer/engine.hpp"
#include "veritas/tokenizer/chat_template.hpp"

namespace veritas {
class Tokenizer;
}

namespace veritas::infer {

using veritas::ChatMessage;
using veritas::chat_text;
using veritas::chat_tokens;

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
