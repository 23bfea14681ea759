#include "veritas/infer/chat.hpp"

#include <algorithm>

#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"

namespace veritas::infer {

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
    // The cache ends inside the last assistant reply (its end-of-turn token was sampled,
    // not fed).
    input = chat_close_turn(tok);
    for (int32_t id : chat_tokens(tok, {{"user", user_message}}, true, /*start=*/false)) input.push_back(id);
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
