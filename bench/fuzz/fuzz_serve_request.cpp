// Fuzzes the request parser of `veritas serve`: any body must give a request or an
// ApiError with a 4xx status and a message (no exception escapes, no crash, no hang), and
// the error body must be valid JSON of OpenAI's shape. A response_format schema that
// compiles is then run over arbitrary text.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "veritas/serve/api.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  veritas::serve::RequestLimits lim;
  lim.max_body_bytes = 1 << 16;
  for (bool chat : {true, false}) {
    auto r = veritas::serve::parse_completion_request(body, chat, lim);
    if (auto* e = std::get_if<veritas::serve::ApiError>(&r)) {
      if (e->status < 400 || e->status >= 500 || e->message.empty()) std::abort();
      auto j = nlohmann::json::parse(veritas::serve::error_body(*e), nullptr, false);
      if (j.is_discarded() || !j["error"]["message"].is_string()) std::abort();
    } else {
      auto& q = std::get<veritas::serve::CompletionRequest>(r);
      if (q.n < 1 || q.n > lim.max_n || q.max_tokens < 1 || q.max_tokens > lim.max_tokens) std::abort();
      (void)veritas::serve::question_of(q);
      // A compiled schema must judge any text without crashing; the input's tail is as
      // good a text as any.
      if (q.constraint) (void)q.constraint->check(body.substr(body.size() / 2));
    }
  }
  return 0;
}
