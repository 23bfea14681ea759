#include "veritas/serve/responses.hpp"

#include "veritas/tokenizer/tokenizer.hpp"

namespace veritas::serve {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

namespace {

// A token's bytes; "" for ids the tokenizer does not cover (a model's padded vocabulary).
std::string piece(const Tokenizer& tok, int32_t id) {
  try {
    return tok.token_bytes(id);
  } catch (const std::exception&) {
    return {};
  }
}

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back((int)c);
  return b;
}

std::string object_name(const CompletionRequest& r, bool chunk) {
  if (!r.chat) return "text_completion";
  return chunk ? "chat.completion.chunk" : "chat.completion";
}

}  // namespace

json veritas_fields(const ChoiceResult& c) {
  json v = {{"confidence", c.truth.confidence},
            {"confidence_source", c.truth.confidence_stated ? "stated" : "tokens"},
            {"abstained", c.truth.abstained || c.replaced}};
  if (c.truth.verified) {
    v["verified"] = *c.truth.verified;
    v["reason"] = c.truth.reason;
  }
  if (c.candidates > 1 || c.replaced) v["candidates"] = c.candidates;
  if (c.replaced) v["replaced"] = true;
  return v;
}

json usage_json(const ResponseMeta& m) {
  return {{"prompt_tokens", m.prompt_tokens},
          {"completion_tokens", m.completion_tokens},
          {"total_tokens", m.prompt_tokens + m.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", m.cached_tokens}}}};
}

json chat_logprobs(const std::vector<TokenEvent>& t, const Tokenizer& tok) {
  json content = json::array();
  for (const auto& e : t) {
    if (e.id < 0) continue;
    std::string s = piece(tok, e.id);
    json top = json::array();
    for (auto& [id, lp] : e.top) {
      std::string ts = piece(tok, id);
      top.push_back({{"token", ts}, {"logprob", lp}, {"bytes", bytes_of(ts)}});
    }
    content.push_back({{"token", s}, {"logprob", e.logprob}, {"bytes", bytes_of(s)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

json text_logprobs(const std::vector<TokenEvent>& t, const Tokenizer& tok, size_t text_offset) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  for (const auto& e : t) {
    if (e.id < 0) continue;
    std::string s = piece(tok, e.id);
    tokens.push_back(s);
    lps.push_back(e.logprob);
    json top = json::object();  // raw bytes as keys: dump() replaces partial UTF-8
    for (auto& [id, lp] : e.top) top[piece(tok, id)] = lp;
    tops.push_back(top);
    offs.push_back(text_offset);
    text_offset += s.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

json completion_json(const CompletionRequest& r, const ResponseMeta& m, const std::vector<ChoiceResult>& choices,
                     const Tokenizer& tok) {
  json cs = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceResult& c = choices[i];
    json ch = {{"index", i}, {"finish_reason", c.finish_reason}, {"logprobs", nullptr}, {"veritas", veritas_fields(c)}};
    if (r.chat) {
      ch["message"] = {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}};
      if (r.logprobs && !c.replaced) ch["logprobs"] = chat_logprobs(c.tokens, tok);
    } else {
      ch["text"] = c.text;
      if (r.logprobs && !c.replaced) ch["logprobs"] = text_logprobs(c.tokens, tok, 0);
    }
    cs.push_back(ch);
  }
  return {{"id", m.id},           {"object", object_name(r, false)}, {"created", m.created},
          {"model", m.model},     {"choices", cs},                   {"usage", usage_json(m)},
          {"system_fingerprint", "veritas"}};
}

json chunk_json(const CompletionRequest& r, const ResponseMeta& m, int index, const std::string& delta, bool first,
                const std::vector<TokenEvent>& tokens, const ChoiceResult* end, const Tokenizer& tok) {
  json ch = {{"index", index}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  if (r.chat) {
    json d = json::object();
    if (first) d["role"] = "assistant";
    if (!delta.empty() || (first && !end)) d["content"] = delta;
    ch["delta"] = d;
    if (r.logprobs && !tokens.empty()) ch["logprobs"] = chat_logprobs(tokens, tok);
  } else {
    ch["text"] = delta;
    if (r.logprobs && !tokens.empty()) ch["logprobs"] = text_logprobs(tokens, tok, 0);
  }
  if (end) {
    ch["finish_reason"] = end->finish_reason;
    ch["veritas"] = veritas_fields(*end);
  }
  json j = {{"id", m.id},     {"object", object_name(r, true)}, {"created", m.created},
            {"model", m.model}, {"choices", json::array({ch})}, {"system_fingerprint", "veritas"}};
  if (r.include_usage) j["usage"] = nullptr;
  return j;
}

json usage_chunk_json(const CompletionRequest& r, const ResponseMeta& m) {
  return {{"id", m.id},           {"object", object_name(r, true)}, {"created", m.created},
          {"model", m.model},     {"choices", json::array()},       {"usage", usage_json(m)},
          {"system_fingerprint", "veritas"}};
}

}  // namespace veritas::serve
