#include "veritas/infer/chat.hpp"

#include <algorithm>

#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"

namespace veritas::infer {

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

ChatSession::ChatSession(Engine& engine, std::string system_prompt, int context)
    : eng_(engine), system_(std::move(system_prompt)), cache_(engine.new_cache(context)) {
  check(eng_.tokenizer() != nullptr, "chat: the checkpoint has no tokenizer.json");
  reset();
}

void ChatSession::reset() {
  msgs_.clear();
  cache_.clear();
  if (!system_.empty()) msgs_.push_back({"system", system_});
}

Generation ChatSession::reply(const std::string& user_message, const SamplingOptions& opt, const TokenCallback& on_token) {
  const Tokenizer& tok = *eng_.tokenizer();
  const int reserve = std::max(1, std::min(opt.max_tokens, cache_.capacity() / 2));
  std::vector<int32_t> input;
  if (cache_.size() > 0) {
    // The cache ends inside the last assistant reply (its <|end|> was sampled, not fed).
    input.push_back(special(tok, kEndOfTurn));
    append(input, tok.encode("\n"));
    append(input, chat_tokens(tok, {{"user", user_message}}, true));
  }
  if (cache_.size() == 0 || cache_.size() + (int)input.size() + reserve > cache_.capacity()) {
    // Start over from the text: drop the oldest turns until the prompt fits.
    size_t first = (!msgs_.empty() && msgs_[0].role == "system") ? 1 : 0;
    for (;;) {
      std::vector<ChatMessage> view = msgs_;
      view.push_back({"user", user_message});
      input = chat_tokens(tok, view, true);
      if ((int)input.size() + reserve <= cache_.capacity()) break;
      check(first < msgs_.size(), "chat: the message (" + std::to_string(input.size()) +
                                      " tokens) does not fit the context of " + std::to_string(cache_.capacity()));
      msgs_.erase(msgs_.begin() + first, msgs_.begin() + std::min(msgs_.size(), first + 2));  // a user/assistant pair
    }
    cache_.clear();
  }
  SamplingOptions o = opt;
  o.max_tokens = std::min(opt.max_tokens, cache_.capacity() - cache_.size() - (int)input.size());
  Generation g = eng_.generate(cache_, input, o, on_token);
  msgs_.push_back({"user", user_message});
  msgs_.push_back({"assistant", g.text});
  return g;
}

}  // namespace veritas::infer
