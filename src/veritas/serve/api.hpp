#pragma once
// The OpenAI request side: a JSON body becomes a CompletionRequest, or an ApiError with
// the HTTP status and OpenAI's error shape. Pure functions (no engine, no sockets), so
// the parser is unit-tested and fuzzed on its own (bench/fuzz/serve_request).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "veritas/serve/json_constraint.hpp"
#include "veritas/tokenizer/chat_template.hpp"

namespace veritas::serve {

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";  // OpenAI's error.type
  std::string message;
  std::string param;  // the offending field, "" when none
  std::string code;   // machine-readable, "" when none
};
// {"error": {"message", "type", "param", "code"}} (param and code null when empty).
std::string error_body(const ApiError& e);

struct RequestLimits {
  size_t max_body_bytes = 1 << 20;  // larger bodies: 413 (checked by the server)
  int max_messages = 1000;
  int max_tokens = 4096;            // the most a request may ask for
  int default_max_tokens = 256;     // when the request does not say
  int max_n = 8;
  int max_stop = 4;                 // as OpenAI
  int max_logit_bias = 300;         // entries of logit_bias (OpenAI's limit)
  int max_depth = 32;               // JSON nesting
};

struct CompletionRequest {
  bool chat = true;
  std::string model;
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completions: text ...
  std::vector<int32_t> prompt_ids;    // ... or token ids
  bool prompt_is_ids = false;
  int n = 1;
  float temperature = 1.0f, top_p = 1.0f;
  int top_k = 0;
  std::optional<uint64_t> seed;
  int max_tokens = 0;
  std::vector<std::string> stop;
  bool logprobs = false;
  int top_logprobs = 0;
  bool stream = false, include_usage = false;
  bool verified_only = false;  // "veritas": {"verified_only": true}
  std::shared_ptr<const JsonConstraint> constraint;  // response_format json_object / json_schema
  bool ignore_eos = false;     // keep generating past end tokens (as llama.cpp's server; benchmarks)
  std::vector<std::pair<int32_t, float>> logit_bias;  // token id -> bias in [-100, 100] (OpenAI's);
                                                      // the ids are checked against the vocabulary later
};

// Parses and validates a /v1/chat/completions (chat = true) or /v1/completions body.
std::variant<CompletionRequest, ApiError> parse_completion_request(std::string_view body, bool chat,
                                                                   const RequestLimits& lim);

// The user's question for the verifier: the last user message (chat) or the prompt.
std::string question_of(const CompletionRequest& r);

// Deepest nesting of [ and { outside strings (a cheap guard before a full parse).
int json_depth(std::string_view body);

}  // namespace veritas::serve
