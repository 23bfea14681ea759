#include "veritas/train/sft.hpp"

#include <algorithm>

#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/text.hpp"

namespace veritas {

std::vector<ChatMessage> chat_prompt_messages(const nlohmann::json& messages, const std::string& origin) {
  check(messages.is_array() && !messages.empty(), origin + ": \"messages\" must be a non-empty array");
  std::vector<ChatMessage> msgs;
  for (size_t i = 0; i + 1 < messages.size(); ++i) {
    const auto& m = messages[i];
    check(m.is_object() && m.contains("role") && m["role"].is_string() && m.contains("content") &&
              m["content"].is_string(),
          origin + ": message " + std::to_string(i) + " needs string \"role\" and \"content\"");
    const std::string role = m["role"].get<std::string>();
    check(role == "system" || role == "user" || role == "assistant",
          origin + ": message " + std::to_string(i) + " has unknown role '" + role + "'");
    msgs.push_back({role, m["content"].get<std::string>()});
  }
  return msgs;
}

SftExample make_sft_example(const Tokenizer& tok, const SftPair& pair) {
  SftExample ex;
  // Messages go through chat_tokens, as in generation: only the template's markers are
  // special tokens, never text inside a message.
  ex.tokens = pair.messages.empty() ? tok.encode_with_specials(pair.prompt) : chat_tokens(tok, pair.messages, true);
  ex.answer_start = (int32_t)ex.tokens.size();
  std::vector<int32_t> ans = tok.encode(pair.answer);
  ex.tokens.insert(ex.tokens.end(), ans.begin(), ans.end());
  // The chat template's end-of-turn (<|end|>, or <|im_end|> for an imported ChatML model).
  auto end = tok.token_id(chat_template_of(tok).end_of_turn());
  ex.tokens.push_back(end ? *end : tok.eot_id());  // learning to stop is part of the answer
  return ex;
}

SftPair sft_pair_from_json(const nlohmann::json& j, const std::string& where) {
  check(j.is_object(), where + ": expected a JSON object");
  SftPair p;
  if (j.contains("messages")) {
    const auto& msgs = j["messages"];
    p.messages = chat_prompt_messages(msgs, where);
    p.prompt = chat_text(p.messages, true);
    const auto& last = msgs.back();
    check(last.is_object() && last.value("role", "") == "assistant" && last.contains("content") &&
              last["content"].is_string(),
          where + ": the last message must be the assistant's answer");
    p.answer = last["content"].get<std::string>();
  } else {
    check(j.contains("prompt") && j["prompt"].is_string() && j.contains("answer") && j["answer"].is_string(),
          where + ": expected string fields \"prompt\" and \"answer\" (or \"messages\")");
    p.prompt = j["prompt"].get<std::string>();
    p.answer = j["answer"].get<std::string>();
  }
  return p;
}

std::vector<SftPair> load_sft_jsonl(const std::filesystem::path& path) {
  std::vector<SftPair> out;
  for_each_json_line(path.string(), [&](const nlohmann::json& j, const std::string& where) {
    out.push_back(sft_pair_from_json(j, where));
  });
  check(!out.empty(), path.string() + ": no examples");
  return out;
}

SftSource::SftSource(std::vector<SftExample> examples, int B, int T, int32_t pad_id, uint64_t seed, bool sequential)
    : examples_(std::move(examples)), B_(B), T_(T), pad_(pad_id), seed_(seed), sequential_(sequential), rng_(seed) {
  check(!examples_.empty(), "SFT: no examples");
  check(B > 0 && T > 0, "SFT: batch and seq must be positive");
}

void SftSource::next(Batch& b) {
  // Draw the rows first: the batch is only as long as its longest row (rounded up to 8,
  // at most T), so short examples do not pay for padding up to --seq. Padding after a
  // row's last token changes nothing (attention is causal and the mask is 0 there).
  std::vector<const SftExample*> rows((size_t)B_);
  size_t longest = 1;
  for (auto& row : rows) {
    const uint64_t idx = sequential_ ? cursor_++ % examples_.size() : rng_.below(examples_.size());
    row = &examples_[idx];
    longest = std::max(longest, std::min(row->tokens.size(), (size_t)T_ + 1) - 1);
  }
  const int T = (int)std::min<size_t>((size_t)T_, (longest + 7) / 8 * 8);
  b.B = B_;
  b.T = T;
  const size_t n = (size_t)B_ * T;
  b.inputs.assign(n, pad_);
  b.targets.assign(n, pad_);
  b.mask.assign(n, 0.0f);
  for (int r = 0; r < B_; ++r) {
    const SftExample& ex = *rows[(size_t)r];
    // Keep the last T_+1 tokens when too long: drop prompt tokens from the front.
    const size_t len = ex.tokens.size();
    const size_t start = len > (size_t)T_ + 1 ? len - ((size_t)T_ + 1) : 0;
    const size_t avail = len - start;  // tokens in the window
    for (size_t t = 0; t + 1 < avail; ++t) {
      const size_t pos = start + t;
      b.inputs[(size_t)r * T + t] = ex.tokens[pos];
      b.targets[(size_t)r * T + t] = ex.tokens[pos + 1];
      b.mask[(size_t)r * T + t] = (int64_t)(pos + 1) >= ex.answer_start ? 1.0f : 0.0f;
    }
  }
}

nlohmann::json SftSource::state() const {
  auto s = rng_.state();
  return {{"kind", "sft"}, {"rng", {s[0], s[1], s[2], s[3]}}, {"cursor", cursor_}};
}

void SftSource::set_state(const nlohmann::json& s) {
  try {
    check(s.value("kind", "") == "sft", "not an SFT source state");
    std::array<uint64_t, 4> st;
    for (int i = 0; i < 4; ++i) st[i] = s.at("rng").at(i).get<uint64_t>();
    rng_.set_state(st);
    cursor_ = s.at("cursor").get<uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("bad SFT data state: ") + e.what());
  }
}

void SftSource::reset() {
  rng_.reseed(seed_);
  cursor_ = 0;
}

std::vector<StepStats> train_sft(Trainer& trainer, const std::vector<SftPair>& pairs, const Tokenizer& tok,
                                 int64_t steps) {
  std::vector<SftExample> ex;
  ex.reserve(pairs.size());
  for (const auto& p : pairs) ex.push_back(make_sft_example(tok, p));
  const auto& c = trainer.config();
  trainer.set_train_source(std::make_unique<SftSource>(std::move(ex), c.batch, c.seq, tok.eot_id(),
                                                       c.seed + (uint64_t)trainer.step_count(), false));
  std::vector<StepStats> out;
  for (int64_t i = 0; i < steps; ++i) out.push_back(trainer.step());
  return out;
}

}  // namespace veritas
