#pragma once
// The OpenAI response side: JSON bodies and SSE chunks for chat and text completions,
// with the veritas truth fields on each choice. Pure formatting, no I/O.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/serve/api.hpp"
#include "veritas/serve/scheduler.hpp"
#include "veritas/serve/truth.hpp"

namespace veritas {
class Tokenizer;
}

namespace veritas::serve {

using json = nlohmann::json;

// JSON text; invalid UTF-8 (a token's partial bytes) becomes U+FFFD rather than an error.
std::string dump(const json& j);

struct ChoiceResult {
  std::string text;
  std::string finish_reason;  // stop | length
  std::vector<TokenEvent> tokens;  // with logprobs, when asked for
  Assessment truth;
  int candidates = 1;          // drawn for this choice (verified-only: up to k)
  bool replaced = false;       // verified-only: no candidate verified, an abstention instead
};

struct ResponseMeta {
  std::string id, model;
  int64_t created = 0;
  int prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};

json veritas_fields(const ChoiceResult& c);
json usage_json(const ResponseMeta& m);
// The whole non-streamed response.
json completion_json(const CompletionRequest& r, const ResponseMeta& m, const std::vector<ChoiceResult>& choices,
                     const Tokenizer& tok);
// One streamed chunk for choice `index`: text delta (may be empty), optional role (first
// chunk of a chat choice), optional end (finish_reason + veritas fields).
json chunk_json(const CompletionRequest& r, const ResponseMeta& m, int index, const std::string& delta,
                bool first, const std::vector<TokenEvent>& tokens, const ChoiceResult* end, const Tokenizer& tok);
json usage_chunk_json(const CompletionRequest& r, const ResponseMeta& m);
// logprobs object of a chat choice / of a text-completion choice.
json chat_logprobs(const std::vector<TokenEvent>& t, const Tokenizer& tok);
json text_logprobs(const std::vector<TokenEvent>& t, const Tokenizer& tok, size_t text_offset);

}  // namespace veritas::serve
