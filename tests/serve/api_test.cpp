// Request parsing: valid requests, and a clear 4xx (with the offending field) for every
// malformed one; SHA-256 and the key store's limits, which survive reopening.
#include <gtest/gtest.h>

#include <algorithm>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "veritas/serve/api.hpp"
#include "veritas/serve/keys.hpp"
#include "veritas/util/error.hpp"

using namespace veritas::serve;
using json = nlohmann::json;

namespace {
std::variant<CompletionRequest, ApiError> chat(const std::string& body) {
  return parse_completion_request(body, true, RequestLimits{});
}
ApiError err(const std::variant<CompletionRequest, ApiError>& v) {
  EXPECT_TRUE(std::holds_alternative<ApiError>(v));
  return std::holds_alternative<ApiError>(v) ? std::get<ApiError>(v) : ApiError{};
}
}  // namespace

TEST(serve_api, ParsesAChatRequest) {
  auto v = chat(R"({"model":"m","messages":[{"role":"system","content":"Be brief."},
    {"role":"user","content":[{"type":"text","text":"What is "},{"type":"text","text":"2+2?"}]}],
    "n":2,"temperature":0,"top_p":0.5,"seed":7,"max_tokens":9,"stop":["\n\n"],"logprobs":true,"top_logprobs":3,
    "stream":true,"stream_options":{"include_usage":true},"veritas":{"verified_only":true}})");
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(v)) << err(v).message;
  auto r = std::get<CompletionRequest>(v);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].content, "What is 2+2?");
  EXPECT_EQ(question_of(r), "What is 2+2?");
  EXPECT_EQ(r.n, 2);
  EXPECT_EQ(r.temperature, 0.0f);
  EXPECT_EQ(*r.seed, 7u);
  EXPECT_EQ(r.max_tokens, 9);
  EXPECT_EQ(r.stop, std::vector<std::string>{"\n\n"});
  EXPECT_TRUE(r.logprobs && r.stream && r.include_usage && r.verified_only);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_TRUE(r.logit_bias.empty());
}

// logit_bias as OpenAI's: token id strings -> bias in [-100, 100]; anything else names the
// field (ids past the vocabulary are refused by the server, which knows it).
TEST(serve_api, ParsesLogitBias) {
  const std::string m = R"("messages":[{"role":"user","content":"x"}])";
  auto v = chat("{" + m + R"(,"logit_bias":{"7":-100,"12":2.5}})");
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(v)) << err(v).message;
  auto lb = std::get<CompletionRequest>(v).logit_bias;
  std::sort(lb.begin(), lb.end());
  EXPECT_EQ(lb, (std::vector<std::pair<int32_t, float>>{{7, -100.0f}, {12, 2.5f}}));
  for (const char* bad : {R"([1])", R"({"a":1})", R"({"-1":1})", R"({"1":101})", R"({"1":"1"})",
                          R"({"99999999999":1})", R"({"":1})", R"({"1":-1e999})"}) {
    const ApiError e = err(chat("{" + m + R"(,"logit_bias":)" + bad + "}"));
    EXPECT_EQ(e.status, 400) << bad;
    if (std::string(bad) != R"({"1":-1e999})") EXPECT_EQ(e.param, "logit_bias") << bad;
  }
  json many = {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"logit_bias", json::object()}};
  for (int i = 0; i < 301; ++i) many["logit_bias"][std::to_string(i)] = 1;
  EXPECT_EQ(err(chat(many.dump())).param, "logit_bias");
}

TEST(serve_api, ParsesCompletionPrompts) {
  RequestLimits lim;
  auto a = std::get<CompletionRequest>(parse_completion_request(R"({"prompt":"hi","logprobs":2})", false, lim));
  EXPECT_EQ(a.prompt, "hi");
  EXPECT_TRUE(a.logprobs);
  EXPECT_EQ(a.top_logprobs, 2);
  auto b = std::get<CompletionRequest>(parse_completion_request(R"({"prompt":[1,2,3]})", false, lim));
  EXPECT_TRUE(b.prompt_is_ids);
  EXPECT_EQ(b.prompt_ids.size(), 3u);
  EXPECT_EQ(err(parse_completion_request(R"({"prompt":[-1]})", false, lim)).param, "prompt");
  EXPECT_EQ(err(parse_completion_request(R"({"prompt":{}})", false, lim)).param, "prompt");
  EXPECT_EQ(err(parse_completion_request(R"({})", false, lim)).param, "prompt");
}

TEST(serve_api, RejectsMalformedRequestsWithTheField) {
  EXPECT_NE(err(chat("{not json")).message.find("invalid JSON"), std::string::npos);
  // A number beyond the double range is nlohmann's out_of_range, not a parse_error (found
  // by bench/fuzz: it escaped as an exception).
  const ApiError big = err(chat(R"({"messages":[{"role":"user","content":"hi"}],"temperature":7e666})"));
  EXPECT_EQ(big.status, 400);
  EXPECT_NE(big.message.find("invalid JSON"), std::string::npos) << big.message;
  EXPECT_EQ(err(chat("[]")).status, 400);
  EXPECT_EQ(err(chat(R"({"messages":"hi"})")).param, "messages");
  EXPECT_EQ(err(chat(R"({"messages":[]})")).param, "messages");
  EXPECT_EQ(err(chat(R"({"messages":[{"role":"tool","content":"x"}]})")).param, "messages[0].role");
  EXPECT_EQ(err(chat(R"({"messages":[{"role":"user","content":5}]})")).param, "messages[0].content");
  EXPECT_EQ(err(chat(R"({"messages":[{"role":"user"}]})")).param, "messages[0].content");
  const std::string m = R"("messages":[{"role":"user","content":"x"}])";
  EXPECT_EQ(err(chat("{" + m + R"(,"max_tokens":-1})")).param, "max_tokens");
  EXPECT_EQ(err(chat("{" + m + R"(,"max_tokens":1e30})")).param, "max_tokens");
  EXPECT_EQ(err(chat("{" + m + R"(,"max_tokens":99999999999999999999})")).param, "max_tokens");
  EXPECT_EQ(err(chat("{" + m + R"(,"max_tokens":"5"})")).param, "max_tokens");
  EXPECT_EQ(err(chat("{" + m + R"(,"temperature":3})")).param, "temperature");
  EXPECT_EQ(err(chat("{" + m + R"(,"temperature":"hot"})")).param, "temperature");
  EXPECT_EQ(err(chat("{" + m + R"(,"n":0})")).param, "n");
  EXPECT_EQ(err(chat("{" + m + R"(,"n":100})")).param, "n");
  EXPECT_EQ(err(chat("{" + m + R"(,"stop":[1]})")).param, "stop");
  EXPECT_EQ(err(chat("{" + m + R"(,"stop":["a","b","c","d","e"]})")).param, "stop");
  EXPECT_EQ(err(chat("{" + m + R"(,"stream":"yes"})")).param, "stream");
  EXPECT_EQ(err(chat("{" + m + R"(,"stream_options":{"include_usage":true}})")).param, "stream_options");
  EXPECT_EQ(err(chat("{" + m + R"(,"top_logprobs":3})")).param, "top_logprobs");
  EXPECT_EQ(err(chat("{" + m + R"(,"response_format":{"type":"json_schema"}})")).param, "response_format");
  EXPECT_EQ(err(chat("{" + m + R"(,"model":5})")).param, "model");
  // Invalid UTF-8 inside a string, and a lone surrogate escape.
  EXPECT_EQ(err(chat(std::string(R"({"messages":[{"role":"user","content":"a)") + "\xff\xfe" + R"("}]})")).status, 400);
  EXPECT_EQ(err(chat(R"({"messages":[{"role":"user","content":"\ud800"}]})")).status, 400);
  // Deep nesting is refused before parsing.
  EXPECT_NE(err(chat(std::string(100000, '[') + std::string(100000, ']'))).message.find("nested"), std::string::npos);
  // Too many messages.
  json many = {{"messages", json::array()}};
  for (int i = 0; i < 10000; ++i) many["messages"].push_back({{"role", "user"}, {"content", "x"}});
  EXPECT_EQ(err(chat(many.dump())).param, "messages");
  // Bodies over the limit: 413.
  RequestLimits small;
  small.max_body_bytes = 10;
  EXPECT_EQ(err(parse_completion_request("{" + m + "}", true, small)).status, 413);
}

TEST(serve_api, ErrorBodyHasOpenAIShape) {
  json j = json::parse(error_body({429, "rate_limit_exceeded", "slow down", "", "rate_limit_exceeded"}));
  EXPECT_EQ(j["error"]["message"], "slow down");
  EXPECT_EQ(j["error"]["type"], "rate_limit_exceeded");
  EXPECT_TRUE(j["error"]["param"].is_null());
  EXPECT_EQ(j["error"]["code"], "rate_limit_exceeded");
}

TEST(serve_keys, Sha256MatchesKnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000, 'a')), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(serve_keys, StoreHashesKeysAndLimitsSurviveReopening) {
  auto path = std::filesystem::temp_directory_path() / ("veritas-keys-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  std::string key;
  double t = 1'000'000'000.0;  // a fixed clock
  {
    KeyStore ks(path.string());
    key = ks.add("alice", {.requests_per_minute = 2, .tokens_per_minute = 0, .daily_requests = 3, .daily_tokens = 0});
    EXPECT_THROW(ks.add("alice", {}), veritas::Error);
    EXPECT_EQ(ks.admit(key, t).kind, Admission::Kind::Ok);
    EXPECT_EQ(ks.admit(key, t).kind, Admission::Kind::Ok);
    Admission a = ks.admit(key, t);  // bucket of 2 empty
    EXPECT_EQ(a.kind, Admission::Kind::Limited);
    EXPECT_EQ(a.retry_after_s, 30);  // one request refills in 60/2 s
    EXPECT_EQ(ks.admit("vk-wrong", t).kind, Admission::Kind::Unauthorized);
    EXPECT_EQ(ks.admit("", t).kind, Admission::Kind::Unauthorized);
    ks.charge(ks.admit(key, t + 30).key_id, 17, t + 30);  // third request of the day
  }
  {
    KeyStore ks(path.string());  // a restart: usage and bucket levels kept
    auto l = ks.list();
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].name, "alice");
    EXPECT_EQ(l[0].prefix, key.substr(0, 7));
    Admission a = ks.admit(key, t + 120);  // bucket full again, but the daily cap of 3 is spent
    EXPECT_EQ(a.kind, Admission::Kind::Limited);
    EXPECT_NE(a.message.find("daily"), std::string::npos);
    EXPECT_TRUE(ks.revoke("alice"));
    EXPECT_FALSE(ks.revoke("alice"));
    EXPECT_EQ(ks.admit(key, t + 86400).kind, Admission::Kind::Unauthorized);
  }
  // The key itself is nowhere in the file.
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  EXPECT_EQ(bytes.find(key), std::string::npos);
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + "-wal");
  std::filesystem::remove(path.string() + "-shm");
}
