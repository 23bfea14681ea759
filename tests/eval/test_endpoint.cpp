// The OpenAI-compatible client against a tiny chat-completions server started inside the
// test on 127.0.0.1 (a free port): good answers, n handling, 500s, broken JSON, a server
// too slow for the timeout, and answers that break the protocol.
#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "veritas/eval/endpoint.hpp"
#include "veritas/eval/harness.hpp"
#include "veritas/util/error.hpp"

using namespace veritas;
using namespace veritas::eval;

namespace {

// Answers like an OpenAI server; the path prefix picks a behaviour.
class FakeServer {
 public:
  FakeServer() {
    auto reply = [this](const httplib::Request& req, httplib::Response& res, bool honour_n, bool protocol) {
      ++hits;
      auto body = nlohmann::json::parse(req.body);
      // The server answers several requests at once (the harness keeps 4 in flight):
      // everything shared is written under the lock.
      std::lock_guard<std::mutex> lock(mu);
      last_request = body;
      last_auth = req.get_header_value("Authorization");
      std::string question = body["messages"].back()["content"];
      int n = honour_n ? body.value("n", 1) : 1;
      std::string text = "I would rather not say.";  // no Answer line: malformed
      if (protocol) {
        auto it = answers.find(question);
        text = "Let me work it out.\n" + (it == answers.end() ? std::string("Answer: I don't know") : it->second) +
               "\nConfidence: 0.9";
      }
      nlohmann::json choices = nlohmann::json::array();
      for (int i = 0; i < n; ++i)
        choices.push_back({{"index", i}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", "stop"}});
      res.set_content(nlohmann::json{{"id", "x"}, {"object", "chat.completion"}, {"choices", choices}}.dump(),
                      "application/json");
    };
    svr.Post("/v1/chat/completions", [=, this](const httplib::Request& q, httplib::Response& r) { reply(q, r, true, true); });
    svr.Post("/one/v1/chat/completions", [=, this](const httplib::Request& q, httplib::Response& r) { reply(q, r, false, true); });
    svr.Post("/garble/v1/chat/completions", [=, this](const httplib::Request& q, httplib::Response& r) { reply(q, r, true, false); });
    svr.Post("/fail/v1/chat/completions", [this](const httplib::Request&, httplib::Response& r) {
      ++hits;
      r.status = 500;
      r.set_content("{\"error\": {\"message\": \"boom\"}}", "application/json");
    });
    svr.Post("/denied/v1/chat/completions", [this](const httplib::Request&, httplib::Response& r) {
      ++hits;
      r.status = 401;
      r.set_content("{\"error\": {\"message\": \"bad key\"}}", "application/json");
    });
    svr.Post("/flaky/v1/chat/completions", [=, this](const httplib::Request& q, httplib::Response& r) {
      if (flaky_failures-- > 0) {
        ++hits;
        r.status = 503;
        r.set_content("busy", "text/plain");
        return;
      }
      reply(q, r, true, true);
    });
    svr.Post("/badjson/v1/chat/completions", [this](const httplib::Request&, httplib::Response& r) {
      ++hits;
      r.set_content("{\"choices\": [ {\"message\": ", "application/json");
    });
    svr.Post("/nochoices/v1/chat/completions", [this](const httplib::Request&, httplib::Response& r) {
      ++hits;
      r.set_content("{\"object\": \"chat.completion\"}", "application/json");
    });
    svr.Post("/slow/v1/chat/completions", [this](const httplib::Request&, httplib::Response& r) {
      ++hits;
      std::this_thread::sleep_for(std::chrono::milliseconds(800));
      r.set_content("{\"choices\": []}", "application/json");
    });
    port = svr.bind_to_any_port("127.0.0.1");  // loopback only
    thread = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    svr.stop();
    thread.join();
  }
  std::string url(const std::string& prefix = "") const { return "http://127.0.0.1:" + std::to_string(port) + prefix; }

  httplib::Server svr;
  std::thread thread;
  int port = 0;
  std::atomic<int> hits{0}, flaky_failures{0};
  std::mutex mu;
  std::map<std::string, std::string> answers;  // question -> final answer line
  nlohmann::json last_request;
  std::string last_auth;
};

EndpointOptions fast(const std::string& url) {
  EndpointOptions o;
  o.url = url;
  o.timeout_s = 5;
  o.retries = 2;
  o.backoff_s = 0.01;
  return o;
}

Task a_task() {
  Task t;
  t.id = "t-1";
  t.suite = "arith";
  t.lang = "en";
  t.question = "What is 6 * 7?";
  return t;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const veritas::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(EvalEndpoint, ParsesUrls) {
  auto u = parse_endpoint_url("http://127.0.0.1:8080");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.path, "/v1/chat/completions");
  EXPECT_EQ(parse_endpoint_url("http://localhost:9/v1/").path, "/v1/chat/completions");
  EXPECT_EQ(parse_endpoint_url("http://h/api/v1/chat/completions").path, "/api/v1/chat/completions");
  EXPECT_EQ(parse_endpoint_url("http://h").port, 80);
  EXPECT_EQ(parse_endpoint_url("http://[::1]:81").host, "::1");
  EXPECT_THROW(parse_endpoint_url("127.0.0.1:8080"), veritas::Error);
  EXPECT_EQ(parse_endpoint_url("https://api.example.com").port, 443);
  EXPECT_THROW(parse_endpoint_url("ftp://api.example.com"), veritas::Error);
  EXPECT_THROW(parse_endpoint_url("http://h:99999"), veritas::Error);
  EXPECT_THROW(parse_endpoint_url("http://h:x1"), veritas::Error);
}

TEST(EvalEndpoint, ParsesResponses) {
  auto c = parse_chat_response(R"({"choices":[{"message":{"content":"a"}},{"message":{"content":null}},
      {"message":{"content":[{"type":"text","text":"b"},{"type":"image_url"},{"type":"text","text":"c"}]}}]})");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0], "a");
  EXPECT_EQ(c[1], "");
  EXPECT_EQ(c[2], "bc");
  std::string e = error_of([] { parse_chat_response("{\"choices\": [1, 2"); });
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
  EXPECT_NE(e.find("byte"), std::string::npos) << e;
  e = error_of([] { parse_chat_response(R"({"choices": [{"message": {"content": "a"}}], "created": 1e999})"); });
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;  // out_of_range, not a parse_error
  EXPECT_NE(error_of([] { parse_chat_response("{\"error\": {\"message\": \"quota\"}}"); }).find("quota"), std::string::npos);
  EXPECT_THROW(parse_chat_response("[]"), veritas::Error);
  EXPECT_THROW(parse_chat_response("{\"choices\": [{\"text\": \"legacy\"}]}"), veritas::Error);
}

TEST(EvalEndpoint, AsksWithProtocolAndKey) {
  FakeServer s;
  s.answers["What is 6 * 7?"] = "Answer: 42";
  auto o = fast(s.url());
  o.api_key = "sekrit";
  o.model = "tiny";
  EndpointAnswerer a(o);
  auto out = a.answer(a_task(), 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].find("Answer: 42"), std::string::npos);
  EXPECT_EQ(s.last_auth, "Bearer sekrit");
  EXPECT_EQ(s.last_request["model"], "tiny");
  EXPECT_EQ(s.last_request["messages"][0]["role"], "system");
  EXPECT_NE(s.last_request["messages"][0]["content"].get<std::string>().find("Answer:"), std::string::npos);
  EXPECT_FALSE(s.last_request.contains("n"));
  // k answers in one request with n = k ...
  s.hits = 0;
  EXPECT_EQ(a.answer(a_task(), 3).size(), 3u);
  EXPECT_EQ(s.hits, 1);
  EXPECT_EQ(s.last_request["n"], 3);
  EXPECT_GT(s.last_request["temperature"].get<double>(), 0.0);  // k > 1 samples
}

TEST(EvalEndpoint, ServerIgnoringNIsAskedAgain) {
  FakeServer s;
  EndpointAnswerer a(fast(s.url("/one")));
  EXPECT_EQ(a.answer(a_task(), 4).size(), 4u);
  EXPECT_EQ(s.hits, 4);
}

TEST(EvalEndpoint, ServerErrorIsRetriedThenReported) {
  FakeServer s;
  EndpointAnswerer a(fast(s.url("/fail")));
  std::string e = error_of([&] { a.answer(a_task(), 1); });
  EXPECT_NE(e.find("HTTP 500"), std::string::npos) << e;
  EXPECT_NE(e.find("3 tries"), std::string::npos) << e;
  EXPECT_NE(e.find("t-1"), std::string::npos) << e;  // names the task
  EXPECT_EQ(s.hits, 3);                               // 1 + 2 retries
}

TEST(EvalEndpoint, TransientErrorRecovers) {
  FakeServer s;
  s.flaky_failures = 2;
  EndpointAnswerer a(fast(s.url("/flaky")));
  EXPECT_EQ(a.answer(a_task(), 1).size(), 1u);
  EXPECT_EQ(s.hits, 3);
}

TEST(EvalEndpoint, ClientErrorIsNotRetried) {
  FakeServer s;
  EndpointAnswerer a(fast(s.url("/denied")));
  std::string e = error_of([&] { a.answer(a_task(), 1); });
  EXPECT_NE(e.find("HTTP 401"), std::string::npos) << e;
  EXPECT_NE(e.find("bad key"), std::string::npos) << e;
  EXPECT_EQ(s.hits, 1);
}

TEST(EvalEndpoint, MalformedJsonIsAClearError) {
  FakeServer s;
  EndpointAnswerer a(fast(s.url("/badjson")));
  std::string e = error_of([&] { a.answer(a_task(), 1); });
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
  EXPECT_EQ(s.hits, 1);
  EndpointAnswerer b(fast(s.url("/nochoices")));
  EXPECT_NE(error_of([&] { b.answer(a_task(), 1); }).find("choices"), std::string::npos);
}

TEST(EvalEndpoint, SlowServerHitsTheTimeout) {
  FakeServer s;
  auto o = fast(s.url("/slow"));
  o.timeout_s = 0.2;
  o.retries = 0;
  EndpointAnswerer a(o);
  auto t0 = std::chrono::steady_clock::now();
  std::string e = error_of([&] { a.answer(a_task(), 1); });
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(e.find("timeout"), std::string::npos) << e;
  EXPECT_LT(secs, 0.7);  // gave up before the server answered
}

TEST(EvalEndpoint, NothingListeningIsAClearError) {
  // A free loopback port: bind a socket to port 0, read the port, close it again.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, (sockaddr*)&addr, sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, (sockaddr*)&addr, &len), 0);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  auto o = fast("http://127.0.0.1:" + std::to_string(port));
  o.retries = 1;
  EndpointAnswerer a(o);
  std::string e = error_of([&] { a.answer(a_task(), 1); });
  EXPECT_NE(e.find("2 tries"), std::string::npos) << e;
  EXPECT_NE(e.find("could not connect"), std::string::npos) << e;
}

TEST(EvalEndpoint, HarnessThroughEndpointScoresServerAnswers) {
  FakeServer s;
  auto tasks = load_tasks({"arith", "impossible"}, 12, 5, "test", "");
  for (const auto& t : tasks) s.answers[t.question] = t.reference;
  EvalOptions eo;
  eo.progress = false;
  EndpointAnswerer good(fast(s.url()));
  auto run = run_eval(tasks, good, eo);  // 4 requests in flight
  EXPECT_EQ(run.results["overall"]["correct_rate"].get<double>(), 1.0) << run.results["overall"].dump();
  EXPECT_EQ(s.hits, (int)tasks.size());
  // A server that ignores the protocol: every answer is malformed, never right or wrong.
  EndpointAnswerer garbled(fast(s.url("/garble")));
  auto bad = run_eval(tasks, garbled, eo);
  EXPECT_EQ(bad.results["overall"]["malformed_rate"].get<double>(), 1.0);
  EXPECT_EQ(bad.results["overall"]["correct"].get<int>(), 0);
  EXPECT_EQ(bad.results["overall"]["wrong"].get<int>(), 0);
}
