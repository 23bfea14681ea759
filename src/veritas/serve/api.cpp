#include "veritas/serve/api.hpp"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace veritas::serve {

using json = nlohmann::json;

std::string error_body(const ApiError& e) {
  json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  return json{{"error", err}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

int json_depth(std::string_view body) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

namespace {

ApiError bad(const std::string& param, const std::string& msg) { return {400, "invalid_request_error", msg, param, ""}; }

// Each reader returns an error message ("" when fine); absent or null fields keep the default.
struct Reader {
  const json& j;
  std::optional<ApiError> err;

  const json* get(const char* k) {
    auto it = j.find(k);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }
  void fail(const std::string& k, const std::string& m) {
    if (!err) err = bad(k, m);
  }
  void boolean(const char* k, bool& out) {
    if (auto* v = get(k)) {
      if (!v->is_boolean()) return fail(k, std::string("'") + k + "' must be a boolean");
      out = v->get<bool>();
    }
  }
  void number(const char* k, float& out, double lo, double hi) {
    if (auto* v = get(k)) {
      if (!v->is_number()) return fail(k, std::string("'") + k + "' must be a number");
      double d = v->get<double>();
      if (!(d >= lo && d <= hi))
        return fail(k, std::string("'") + k + "' must be between " + json(lo).dump() + " and " + json(hi).dump());
      out = (float)d;
    }
  }
  void integer(const char* k, int& out, int64_t lo, int64_t hi) {
    if (auto* v = get(k)) {
      if (!v->is_number_integer()) return fail(k, std::string("'") + k + "' must be an integer");
      const bool huge = v->is_number_unsigned() && v->get<uint64_t>() > (uint64_t)INT64_MAX;
      if (huge || v->get<int64_t>() < lo || v->get<int64_t>() > hi)
        return fail(k, std::string("'") + k + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      out = (int)v->get<int64_t>();
    }
  }
};

std::optional<std::string> content_text(const json& c) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) return std::nullopt;
  std::string out;  // an array of parts: only text parts are understood
  for (const auto& p : c) {
    if (!p.is_object() || p.value("type", json()) != "text" || !p.contains("text") || !p["text"].is_string())
      return std::nullopt;
    out += p["text"].get<std::string>();
  }
  return out;
}

}  // namespace

std::variant<CompletionRequest, ApiError> parse_completion_request(std::string_view body, bool chat,
                                                                   const RequestLimits& lim) {
  if (body.size() > lim.max_body_bytes)
    return ApiError{413, "invalid_request_error", "request body is larger than " + std::to_string(lim.max_body_bytes) + " bytes",
                    "", "body_too_large"};
  if (json_depth(body) > lim.max_depth)
    return bad("", "JSON nested deeper than " + std::to_string(lim.max_depth) + " levels");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    // Locate the problem for the client: parse again to get the exception's message.
    std::string why = "invalid JSON";
    try {
      (void)json::parse(body);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
      why = std::string("invalid JSON: ") + e.what();
    }
    return bad("", why);
  }
  if (!j.is_object()) return bad("", "the request body must be a JSON object");
  CompletionRequest r;
  r.chat = chat;
  r.max_tokens = lim.default_max_tokens;
  Reader rd{j, std::nullopt};

  if (auto* m = rd.get("model")) {
    if (!m->is_string()) return bad("model", "'model' must be a string");
    r.model = m->get<std::string>();
  }
  if (chat) {
    auto* ms = rd.get("messages");
    if (!ms) return bad("messages", "'messages' is required");
    if (!ms->is_array() || ms->empty()) return bad("messages", "'messages' must be a non-empty array");
    if ((int)ms->size() > lim.max_messages)
      return bad("messages", "at most " + std::to_string(lim.max_messages) + " messages per request");
    for (size_t i = 0; i < ms->size(); ++i) {
      const json& m = (*ms)[i];
      std::string p = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) return bad(p, p + " must be an object");
      if (!m.contains("role") || !m["role"].is_string()) return bad(p + ".role", p + ".role must be a string");
      std::string role = m["role"].get<std::string>();
      if (role == "developer") role = "system";
      if (role != "system" && role != "user" && role != "assistant")
        return bad(p + ".role", p + ".role '" + role + "' is not supported (system, developer, user, assistant)");
      auto text = m.contains("content") ? content_text(m["content"]) : std::nullopt;
      if (!text) return bad(p + ".content", p + ".content must be a string or an array of text parts");
      r.messages.push_back({role, *text});
    }
  } else {
    auto* p = rd.get("prompt");
    if (!p) return bad("prompt", "'prompt' is required");
    if (p->is_string()) {
      r.prompt = p->get<std::string>();
    } else if (p->is_array() && !p->empty() && (*p)[0].is_number_integer()) {
      for (const auto& t : *p) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > std::numeric_limits<int32_t>::max())
          return bad("prompt", "'prompt' as token ids must hold non-negative integers");
        r.prompt_ids.push_back((int32_t)t.get<int64_t>());
      }
      r.prompt_is_ids = true;
    } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
      r.prompt = (*p)[0].get<std::string>();
    } else {
      return bad("prompt", "'prompt' must be a string, a one-string array or an array of token ids");
    }
  }
  rd.integer("n", r.n, 1, lim.max_n);
  rd.number("temperature", r.temperature, 0, 2);
  rd.number("top_p", r.top_p, 0, 1);
  rd.integer("top_k", r.top_k, 0, 1 << 20);
  // max_completion_tokens is the newer name; either is accepted.
  rd.integer("max_tokens", r.max_tokens, 1, lim.max_tokens);
  rd.integer("max_completion_tokens", r.max_tokens, 1, lim.max_tokens);
  if (auto* s = rd.get("seed")) {
    if (!s->is_number_integer()) return bad("seed", "'seed' must be an integer");
    r.seed = s->is_number_unsigned() ? s->get<uint64_t>() : (uint64_t)s->get<int64_t>();
  }
  if (auto* s = rd.get("stop")) {
    if (s->is_string()) {
      r.stop.push_back(s->get<std::string>());
    } else if (s->is_array() && (int)s->size() <= lim.max_stop) {
      for (const auto& x : *s) {
        if (!x.is_string()) return bad("stop", "'stop' must be a string or an array of strings");
        r.stop.push_back(x.get<std::string>());
      }
    } else {
      return bad("stop", "'stop' must be a string or an array of at most " + std::to_string(lim.max_stop) + " strings");
    }
    for (auto& x : r.stop)
      if (x.empty()) return bad("stop", "a stop string must not be empty");
  }
  if (auto* lb = rd.get("logit_bias")) {
    if (!lb->is_object()) return bad("logit_bias", "'logit_bias' must be an object of token id -> bias");
    if ((int)lb->size() > lim.max_logit_bias)
      return bad("logit_bias", "at most " + std::to_string(lim.max_logit_bias) + " entries in 'logit_bias'");
    for (auto it = lb->begin(); it != lb->end(); ++it) {
      const std::string& k = it.key();
      const long long id = k.empty() || k.size() > 10 || k.find_first_not_of("0123456789") != std::string::npos
                               ? -1 : std::stoll(k);  // <= 10 digits: no overflow
      if (id < 0 || id > std::numeric_limits<int32_t>::max())
        return bad("logit_bias", "'logit_bias' keys must be token ids (non-negative integers as strings)");
      if (!it.value().is_number() || !(it.value().get<double>() >= -100 && it.value().get<double>() <= 100))
        return bad("logit_bias", "'logit_bias' values must be numbers between -100 and 100");
      r.logit_bias.emplace_back((int32_t)id, (float)it.value().get<double>());
    }
  }
  // chat: logprobs is a boolean plus top_logprobs; completions: logprobs is the count.
  if (chat) {
    rd.boolean("logprobs", r.logprobs);
    rd.integer("top_logprobs", r.top_logprobs, 0, 20);
    if (r.top_logprobs > 0 && !r.logprobs) return bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  } else if (auto* lp = rd.get("logprobs")) {
    if (!lp->is_number_integer() || lp->get<int64_t>() < 0 || lp->get<int64_t>() > 5)
      return bad("logprobs", "'logprobs' must be an integer between 0 and 5");
    r.logprobs = true;
    r.top_logprobs = (int)lp->get<int64_t>();
  }
  rd.boolean("stream", r.stream);
  rd.boolean("ignore_eos", r.ignore_eos);
  if (auto* so = rd.get("stream_options")) {
    if (!so->is_object()) return bad("stream_options", "'stream_options' must be an object");
    if (!r.stream) return bad("stream_options", "'stream_options' is only allowed with 'stream': true");
    Reader sr{*so, std::nullopt};
    sr.boolean("include_usage", r.include_usage);
    if (sr.err) return *sr.err;
  }
  if (auto* rf = rd.get("response_format")) {
    if (!rf->is_object() || !rf->contains("type") || !(*rf)["type"].is_string())
      return bad("response_format", "'response_format' must be an object with a 'type'");
    const std::string type = (*rf)["type"].get<std::string>();
    const json* schema = nullptr;
    if (type == "json_schema") {
      auto js = rf->find("json_schema");
      if (js == rf->end() || !js->is_object() || !js->contains("schema") || !(*js)["schema"].is_object())
        return bad("response_format", "'response_format.json_schema.schema' must be a JSON schema object");
      schema = &(*js)["schema"];
    } else if (type != "json_object" && type != "text") {
      return bad("response_format", "response_format type '" + type + "' is not supported (text, json_object, json_schema)");
    }
    if (type != "text") {
      auto c = JsonConstraint::compile(schema);
      if (auto* e = std::get_if<std::string>(&c)) return bad("response_format", "response_format: " + *e);
      r.constraint = std::get<std::shared_ptr<const JsonConstraint>>(c);
    }
  }
  if (auto* tools = rd.get("tools"); tools && !(tools->is_array() && tools->empty()))
    return bad("tools", "tools are not supported by this server");
  if (auto* v = rd.get("veritas")) {
    if (!v->is_object()) return bad("veritas", "'veritas' must be an object");
    Reader vr{*v, std::nullopt};
    vr.boolean("verified_only", r.verified_only);
    if (vr.err) return *vr.err;
  }
  if (rd.err) return *rd.err;
  return r;
}

std::string question_of(const CompletionRequest& r) {
  if (!r.chat) return r.prompt;
  for (auto it = r.messages.rbegin(); it != r.messages.rend(); ++it)
    if (it->role == "user") return it->content;
  return {};
}

}  // namespace veritas::serve
