#include "veritas/tokenizer/chat_template.hpp"

#include "veritas/util/error.hpp"

namespace veritas {

static const char* role_token(const std::string& role) {
  if (role == "system") return kSystem;
  if (role == "user") return kUser;
  if (role == "assistant") return kAssistant;
  throw Error("chat: unknown role '" + role + "' (expected system, user or assistant)");
}

std::string chat_text(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  std::string s;
  for (auto& m : messages) s += std::string(role_token(m.role)) + "\n" + m.content + kEndOfTurn + "\n";
  if (add_generation_prompt) s += std::string(kAssistant) + "\n";
  return s;
}

static int32_t special(const Tokenizer& tok, const char* name) {
  auto id = tok.token_id(name);
  check(id.has_value(), std::string("chat: the tokenizer has no ") + name + " token (train it with the chat special tokens)");
  return *id;
}

static void append(std::vector<int32_t>& out, const std::vector<int32_t>& ids) { out.insert(out.end(), ids.begin(), ids.end()); }

std::vector<int32_t> chat_tokens(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt) {
  std::vector<int32_t> out;
  const int32_t end = special(tok, kEndOfTurn);
  const auto nl = tok.encode("\n");
  for (auto& m : messages) {
    out.push_back(special(tok, role_token(m.role)));
    append(out, tok.encode("\n" + m.content));
    out.push_back(end);
    append(out, nl);
  }
  if (add_generation_prompt) {
    out.push_back(special(tok, kAssistant));
    append(out, nl);
  }
  return out;
}

}  // namespace veritas
