#include "veritas/eval/endpoint.hpp"

#include <httplib.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "veritas/util/error.hpp"

namespace veritas::eval {

EndpointUrl parse_endpoint_url(const std::string& url) {
  EndpointUrl u;
  size_t p = url.find("://");
  check(p != std::string::npos, "endpoint URL '" + url + "' has no scheme (expected http://host:port)");
  u.scheme = url.substr(0, p);
  check(u.scheme == "http" || u.scheme == "https",
        "endpoint URL '" + url + "': the scheme must be http:// or https://");
  if (u.scheme == "https") u.port = 443;
  std::string rest = url.substr(p + 3);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  check(!hostport.empty(), "endpoint URL '" + url + "' has no host");
  // host, host:port, [v6], [v6]:port
  std::string host = hostport, port;
  if (hostport.front() == '[') {
    size_t close = hostport.find(']');
    check(close != std::string::npos, "endpoint URL '" + url + "' has an unclosed '['");
    host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size()) {
      check(hostport[close + 1] == ':', "endpoint URL '" + url + "' has a bad host");
      port = hostport.substr(close + 2);
    }
  } else if (size_t colon = hostport.rfind(':'); colon != std::string::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (!port.empty() || hostport.back() == ':') {
    check(!port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos,
          "endpoint URL '" + url + "' has a bad port '" + port + "'");
    u.port = std::stoi(port);
    check(u.port > 0 && u.port < 65536, "endpoint URL '" + url + "' has a bad port '" + port + "'");
  }
  check(!host.empty(), "endpoint URL '" + url + "' has no host");
  hostport = host;
  u.host = hostport;
  while (!path.empty() && path.back() == '/') path.pop_back();
  // Accept the server root, its /v1 base, or the full route.
  auto ends_with = [&](const std::string& s) { return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0; };
  if (ends_with("/chat/completions")) u.path = path;
  else if (ends_with("/v1")) u.path = path + "/chat/completions";
  else u.path = path + "/v1/chat/completions";
  return u;
}

static std::string snippet(const std::string& s, size_t n = 200) {
  std::string o = s.size() > n ? s.substr(0, n) + "..." : s;
  for (char& c : o)
    if (c == '\n' || c == '\r') c = ' ';
  return o;
}

std::vector<std::string> parse_chat_response(const std::string& body) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error("response is not valid JSON (at byte " + std::to_string(e.byte) + "): '" + snippet(body) + "'");
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double
    throw Error(std::string("response is not valid JSON (") + e.what() + "): '" + snippet(body) + "'");
  }
  if (j.is_object() && j.contains("error"))
    throw Error("server returned an error object: " + snippet(j["error"].dump()));
  check(j.is_object() && j.contains("choices") && j["choices"].is_array(),
        "response has no 'choices' array: '" + snippet(body) + "'");
  std::vector<std::string> out;
  for (size_t i = 0; i < j["choices"].size(); ++i) {
    const auto& c = j["choices"][i];
    check(c.is_object() && c.contains("message") && c["message"].is_object(),
          "response choices[" + std::to_string(i) + "] has no 'message' object");
    const auto& content = c["message"].value("content", nlohmann::json());
    if (content.is_string()) out.push_back(content.get<std::string>());
    else if (content.is_null()) out.push_back("");  // e.g. a refusal: scored as malformed
    else if (content.is_array()) {  // content parts: keep the text ones
      std::string text;
      for (const auto& part : content)
        if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string())
          text += part["text"].get<std::string>();
      out.push_back(text);
    } else {
      throw Error("response choices[" + std::to_string(i) + "].message.content is neither text nor null");
    }
  }
  return out;
}

EndpointAnswerer::EndpointAnswerer(EndpointOptions opts) : opts_(std::move(opts)), url_(parse_endpoint_url(opts_.url)) {
  check(opts_.parallel >= 1, "--parallel must be at least 1");
  check(opts_.retries >= 0, "--retries must not be negative");
  check(opts_.timeout_s > 0, "--timeout must be positive");
  if (!opts_.prompt_dir.empty()) prompts_ = load_prompt_set(opts_.prompt_dir);
}

std::string EndpointAnswerer::describe() const {
  std::string d = "endpoint " + opts_.url + (opts_.model.empty() ? "" : " (model " + opts_.model + ")");
  if (prompts_) d += ", prompt set " + prompts_->version + " (" + prompts_->hash + ")";
  return d;
}

nlohmann::json EndpointAnswerer::prompt() const {
  if (prompts_) return prompts_->to_json();
  return opts_.system_prompt ? nlohmann::json{{"version", "builtin"}} : nlohmann::json{{"version", "none"}};
}

std::vector<std::string> EndpointAnswerer::request(const Task& task, int n, double temperature) {
  nlohmann::json messages = nlohmann::json::array();
  for (const auto& m : prompt_messages(prompts_ ? &*prompts_ : nullptr, opts_.system_prompt, task))
    messages.push_back({{"role", m.role}, {"content", m.content}});
  nlohmann::json req = {{"messages", messages}, {"temperature", temperature}, {"max_tokens", opts_.max_tokens}};
  if (!opts_.model.empty()) req["model"] = opts_.model;
  if (n > 1) req["n"] = n;
  const std::string body = req.dump();

  httplib::Headers headers;
  if (!opts_.api_key.empty()) headers.emplace("Authorization", "Bearer " + opts_.api_key);
  auto split = [](double s, time_t& sec, time_t& usec) {
    sec = (time_t)s;
    usec = (time_t)std::llround((s - (double)sec) * 1e6);
  };
  time_t sec, usec;
  split(opts_.timeout_s, sec, usec);
  const std::string where = "endpoint " + opts_.url + " (task " + task.id + ")";
  std::string last;
  for (int attempt = 0; attempt <= opts_.retries; ++attempt) {
    if (attempt > 0) {
      double wait = opts_.backoff_s * std::pow(2.0, attempt - 1);
      std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    }
    // A client per request: httplib clients are not shared across threads.
    std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    httplib::Client cli(url_.scheme + "://" + host + ":" + std::to_string(url_.port));
    check(cli.is_valid(), "endpoint URL '" + opts_.url + "' cannot be used by the HTTP client");
    cli.set_connection_timeout(sec, usec);
    cli.set_read_timeout(sec, usec);
    cli.set_write_timeout(sec, usec);
    auto res = cli.Post(url_.path, headers, body, "application/json");
    if (!res) {
      auto err = res.error();
      if (err == httplib::Error::Read)
        last = "no complete response within the " + std::to_string(opts_.timeout_s) + " s timeout (or the connection closed)";
      else if (err == httplib::Error::Connection)
        last = "could not connect to " + url_.host + ":" + std::to_string(url_.port) + " (is the server running?)";
      else if (err == httplib::Error::ConnectionTimeout)
        last = "connecting took longer than the " + std::to_string(opts_.timeout_s) + " s timeout";
      else
        last = "request failed: " + httplib::to_string(err);
      continue;  // network trouble: retry
    }
    if (res->status == 200) {
      try {
        return parse_chat_response(res->body);
      } catch (const Error& e) {
        throw Error(where + ": " + e.what());  // a broken response is not retried
      }
    }
    std::string msg = "HTTP " + std::to_string(res->status) + ": '" + snippet(res->body) + "'";
    if (res->status == 429 || res->status >= 500) {
      last = msg;
      continue;  // overloaded or failing server: retry
    }
    throw Error(where + ": " + msg);
  }
  throw Error(where + ": gave up after " + std::to_string(opts_.retries + 1) + " tries: " + last);
}

std::vector<std::string> EndpointAnswerer::answer(const Task& task, int k) {
  check(k >= 1, "answers per question must be at least 1");
  double temperature = k == 1 ? opts_.temperature : opts_.sample_temperature;
  std::vector<std::string> out;
  while ((int)out.size() < k) {
    int want = opts_.use_n ? k - (int)out.size() : 1;
    auto got = request(task, want, temperature);
    check(!got.empty(), "endpoint " + opts_.url + " (task " + task.id + "): response had no choices");
    // Some servers ignore "n" and send one choice: ask again for the rest.
    for (auto& g : got)
      if ((int)out.size() < k) out.push_back(std::move(g));
  }
  return out;
}

}  // namespace veritas::eval
