#pragma once
// An OpenAI-compatible chat-completions client (POST {base}/v1/chat/completions), so any
// such server, a veritas server included, is evaluated the same way as the local model.
#include <optional>
#include <string>
#include <vector>

#include "veritas/eval/answerer.hpp"
#include "veritas/eval/prompt.hpp"

namespace veritas::eval {

struct EndpointOptions {
  std::string url;       // http(s)://host:port, .../v1 or the full .../chat/completions
  std::string api_key;   // sent as "Authorization: Bearer KEY" when not empty
  std::string model;     // the "model" field; empty = omitted
  double temperature = 0;      // used when k == 1; k > 1 uses sample_temperature
  double sample_temperature = 0.7;
  int max_tokens = 512;
  double timeout_s = 120;      // connect, read and write timeouts of one request
  int retries = 3;             // extra tries after a connection error, timeout, 429 or 5xx
  double backoff_s = 1.0;      // first wait between tries; doubles each time
  int parallel = 4;            // requests in flight at once
  bool use_n = true;           // ask for k choices in one request (else k requests)
  bool system_prompt = true;   // send protocol_prompt() as the system message
  std::string prompt_dir;      // a versioned prompt set (eval/prompt.hpp) instead
};

// Parsed form of the URL: scheme://host:port and the request path.
struct EndpointUrl {
  std::string scheme, host, path;
  int port = 80;
};
EndpointUrl parse_endpoint_url(const std::string& url);  // throws Error on a bad URL

// Extracts choices[].message.content from a chat-completions response body; throws Error
// (naming the byte offset for bad JSON) when the body is not such a response.
std::vector<std::string> parse_chat_response(const std::string& body);

class EndpointAnswerer : public Answerer {
 public:
  explicit EndpointAnswerer(EndpointOptions opts);
  std::vector<std::string> answer(const Task& task, int k) override;
  int max_parallel() const override { return opts_.parallel; }
  std::string describe() const override;
  nlohmann::json prompt() const override;

 private:
  // One request for n choices; retries per the options, throws Error when it gives up.
  std::vector<std::string> request(const Task& task, int n, double temperature);
  EndpointOptions opts_;
  EndpointUrl url_;
  std::optional<PromptSet> prompts_;
};

}  // namespace veritas::eval
