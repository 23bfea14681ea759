#include "veritas/serve/json_constraint.hpp"

#include <algorithm>
#include <set>

namespace veritas::serve {

using json = nlohmann::json;

namespace {

constexpr int kMaxNodes = 256, kMaxDepth = 16;

bool plain(const std::string& name) {
  return std::none_of(name.begin(), name.end(), [](char c) { return (unsigned char)c < 0x20 || c == '"' || c == '\\'; });
}

struct Compiler {
  std::vector<JsonConstraint::Node>& nodes;
  std::string error;

  int add(const json& s, const std::string& where, int depth) {
    if (!error.empty()) return -1;
    if (depth > kMaxDepth || (int)nodes.size() >= kMaxNodes) return fail(where + ": schema too deep or too large");
    if (!s.is_object()) return fail(where + ": a schema must be an object");
    static const std::set<std::string> known = {"type", "properties", "required", "additionalProperties", "items",
                                                "enum", "title", "description", "$schema", "strict"};
    for (auto& [k, v] : s.items())
      if (!known.count(k)) return fail(where + ": schema keyword '" + k + "' is not supported");
    const int id = (int)nodes.size();
    nodes.emplace_back();
    JsonConstraint::Node n;
    std::string type;
    if (s.contains("type")) {
      if (!s["type"].is_string()) return fail(where + ".type: must be one type name (lists are not supported)");
      type = s["type"].get<std::string>();
    } else if (s.contains("properties")) {
      type = "object";
    } else if (s.contains("enum")) {
      type = "string";
    }
    static const std::vector<std::pair<std::string, JsonConstraint::Node::Type>> types = {
        {"", JsonConstraint::Node::Any},          {"object", JsonConstraint::Node::Object},
        {"array", JsonConstraint::Node::Array},   {"string", JsonConstraint::Node::String},
        {"number", JsonConstraint::Node::Number}, {"integer", JsonConstraint::Node::Integer},
        {"boolean", JsonConstraint::Node::Boolean}, {"null", JsonConstraint::Node::Null}};
    auto t = std::find_if(types.begin(), types.end(), [&](auto& p) { return p.first == type; });
    if (t == types.end()) return fail(where + ".type: unknown type '" + type + "'");
    n.type = t->second;
    if (s.contains("enum")) {
      if (n.type != JsonConstraint::Node::String || !s["enum"].is_array())
        return fail(where + ".enum: only an array of strings on a string schema is supported");
      for (auto& e : s["enum"]) {
        if (!e.is_string()) return fail(where + ".enum: only strings are supported");
        n.enums.push_back(e.get<std::string>());
        if (!plain(n.enums.back())) return fail(where + ".enum: values with quotes, backslashes or control characters are not supported");
      }
      if (n.enums.empty()) return fail(where + ".enum: empty, so no value can satisfy the schema");
      n.has_enum = true;
    }
    if (s.contains("additionalProperties")) {
      if (!s["additionalProperties"].is_boolean()) return fail(where + ".additionalProperties: only true or false is supported");
      n.additional = s["additionalProperties"].get<bool>();
    }
    if (s.contains("properties")) {
      if (n.type != JsonConstraint::Node::Object || !s["properties"].is_object())
        return fail(where + ".properties: needs an object schema");
      for (auto& [k, v] : s["properties"].items()) {
        if (!plain(k)) return fail(where + ".properties: names with quotes, backslashes or control characters are not supported");
        int c = add(v, where + ".properties." + k, depth + 1);
        if (c < 0) return -1;
        n.props.push_back({k, c});
      }
    }
    if (s.contains("required")) {
      if (!s["required"].is_array()) return fail(where + ".required: must be an array of names");
      for (auto& r : s["required"]) {
        if (!r.is_string()) return fail(where + ".required: must be an array of names");
        std::string name = r.get<std::string>();
        bool listed = std::any_of(n.props.begin(), n.props.end(), [&](auto& p) { return p.first == name; });
        if (!listed && !n.additional)
          return fail(where + ".required: '" + name + "' is required but not allowed (additionalProperties is false)");
        n.required.push_back(name);
      }
    }
    if (s.contains("items")) {
      if (n.type != JsonConstraint::Node::Array) return fail(where + ".items: needs an array schema");
      n.items = add(s["items"], where + ".items", depth + 1);
      if (n.items < 0) return -1;
    }
    nodes[id] = std::move(n);
    return id;
  }
  int fail(const std::string& m) {
    if (error.empty()) error = m;
    return -1;
  }
};

enum class R { Ok, Eof, Bad };  // Eof: the text ended where more may follow (viable)

struct Parser {
  const std::vector<JsonConstraint::Node>& nodes;
  std::string_view s;
  size_t i = 0;

  bool eof() const { return i >= s.size(); }
  R ws() {
    int n = 0;
    while (!eof() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) {
      if (++n > 2) return R::Bad;
      ++i;
    }
    return eof() ? R::Eof : R::Ok;
  }
  R lit(std::string_view word) {
    for (char c : word) {
      if (eof()) return R::Eof;
      if (s[i++] != c) return R::Bad;
    }
    return R::Ok;
  }
  // A string; `out` gets its content (escapes decoded). `allowed` (may be null): the
  // content must be one of these (a prefix of one while incomplete).
  R str(std::string* out, const std::vector<std::string>* allowed) {
    auto viable_prefix = [&] {
      if (!allowed) return true;
      return std::any_of(allowed->begin(), allowed->end(), [&](auto& a) { return a.compare(0, out->size(), *out) == 0; });
    };
    if (eof()) return R::Eof;
    if (s[i++] != '"') return R::Bad;
    for (;;) {
      if (!viable_prefix()) return R::Bad;
      if (eof()) return R::Eof;
      unsigned char c = (unsigned char)s[i++];
      if (c == '"') {
        if (allowed && std::find(allowed->begin(), allowed->end(), *out) == allowed->end()) return R::Bad;
        return R::Ok;
      }
      if (c < 0x20) return R::Bad;
      if (c != '\\') {
        out->push_back((char)c);
        continue;
      }
      // Keys and enum values are written without escapes (compile() refuses names that
      // would need one), so a half-written escape can never lead into a dead end.
      if (allowed) return R::Bad;
      if (eof()) return R::Eof;
      char e = s[i++];
      static const std::string simple = "\"\\/bfnrt", value = "\"\\/\b\f\n\r\t";
      if (auto p = simple.find(e); p != std::string::npos) {
        out->push_back(value[p]);
      } else if (e == 'u') {
        unsigned cp = 0;
        for (int k = 0; k < 4; ++k) {
          if (eof()) return R::Eof;
          char h = s[i++];
          if (!std::isxdigit((unsigned char)h)) return R::Bad;
          cp = cp * 16 + (unsigned)(std::isdigit((unsigned char)h) ? h - '0' : (std::tolower(h) - 'a' + 10));
        }
        if (cp < 0x80) {
          out->push_back((char)cp);
        } else if (cp < 0x800) {
          out->push_back((char)(0xC0 | cp >> 6));
          out->push_back((char)(0x80 | (cp & 0x3F)));
        } else {
          out->push_back((char)(0xE0 | cp >> 12));
          out->push_back((char)(0x80 | (cp >> 6 & 0x3F)));
          out->push_back((char)(0x80 | (cp & 0x3F)));
        }
      } else {
        return R::Bad;
      }
    }
  }
  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? ; a number is only known to be complete
  // when a following byte ends it, so the end of the text is always Eof here.
  R number(bool integer) {
    auto digits = [&](bool first_nonzero_rule) -> R {
      if (eof()) return R::Eof;
      if (!std::isdigit((unsigned char)s[i])) return R::Bad;
      if (first_nonzero_rule && s[i] == '0') {
        ++i;
        return eof() ? R::Eof : R::Ok;
      }
      while (!eof() && std::isdigit((unsigned char)s[i])) ++i;
      return eof() ? R::Eof : R::Ok;
    };
    if (!eof() && s[i] == '-') ++i;
    R r = digits(true);
    if (r != R::Ok) return r;
    if (s[i] == '.') {
      if (integer) return R::Bad;
      ++i;
      if ((r = digits(false)) != R::Ok) return r;
    }
    if (s[i] == 'e' || s[i] == 'E') {
      if (integer) return R::Bad;
      ++i;
      if (!eof() && (s[i] == '+' || s[i] == '-')) ++i;
      if ((r = digits(false)) != R::Ok) return r;
    }
    return R::Ok;
  }
  R value(int node, int depth) {
    if (depth > 64) return R::Bad;
    if (eof()) return R::Eof;
    using T = JsonConstraint::Node;
    T::Type t = node < 0 ? T::Any : nodes[node].type;
    char c = s[i];
    if (t == T::Any) {
      if (c == '{') t = T::Object;
      else if (c == '[') t = T::Array;
      else if (c == '"') t = T::String;
      else if (c == '-' || std::isdigit((unsigned char)c)) t = T::Number;
      else if (c == 't' || c == 'f') t = T::Boolean;
      else if (c == 'n') t = T::Null;
      else return R::Bad;
    }
    switch (t) {
      case T::Object: return object(node, depth);
      case T::Array: return array(node < 0 ? -1 : nodes[node].items, depth);
      case T::String: {
        std::string out;
        return str(&out, node >= 0 && nodes[node].has_enum ? &nodes[node].enums : nullptr);
      }
      case T::Number: return number(false);
      case T::Integer: return number(true);
      case T::Boolean: return c == 't' ? lit("true") : lit("false");
      case T::Null: return lit("null");
      default: return R::Bad;
    }
  }
  R array(int items, int depth) {
    if (s[i++] != '[') return R::Bad;
    R r = ws();
    if (r != R::Ok) return r;
    if (s[i] == ']') return ++i, R::Ok;
    for (;;) {
      if ((r = value(items, depth + 1)) != R::Ok) return r;
      if ((r = ws()) != R::Ok) return r;
      char c = s[i++];
      if (c == ']') return R::Ok;
      if (c != ',') return R::Bad;
      if ((r = ws()) != R::Ok) return r;
    }
  }
  R object(int node, int depth) {
    static const JsonConstraint::Node any_object{JsonConstraint::Node::Object, {}, {}, true, false, {}, -1};
    const JsonConstraint::Node& n = node < 0 ? any_object : nodes[node];
    if (s[i++] != '{') return R::Bad;
    std::vector<std::string> seen;
    // Keys still allowed (when the object is closed to other keys).
    auto allowed = [&] {
      std::vector<std::string> a;
      for (auto& [k, _] : n.props)
        if (std::find(seen.begin(), seen.end(), k) == seen.end()) a.push_back(k);
      return a;
    };
    auto can_close = [&] {
      for (auto& r : n.required)
        if (std::find(seen.begin(), seen.end(), r) == seen.end()) return false;
      return true;
    };
    R r = ws();
    if (r != R::Ok) return r;
    if (s[i] == '}') return can_close() ? (++i, R::Ok) : R::Bad;
    for (;;) {
      std::string key;
      std::vector<std::string> keys = allowed();
      if (!n.additional && keys.empty()) return R::Bad;
      if ((r = str(&key, n.additional ? nullptr : &keys)) != R::Ok) return r;
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) return R::Bad;  // duplicate
      seen.push_back(key);
      int child = -1;
      for (auto& [k, c] : n.props)
        if (k == key) child = c;
      if ((r = ws()) != R::Ok) return r;
      if (s[i++] != ':') return R::Bad;
      if ((r = ws()) != R::Ok) return r;
      if ((r = value(child, depth + 1)) != R::Ok) return r;
      if ((r = ws()) != R::Ok) return r;
      char c = s[i++];
      if (c == '}') return can_close() ? R::Ok : R::Bad;
      if (c != ',') return R::Bad;
      if (!n.additional && allowed().empty()) return R::Bad;  // a comma with no key left to follow
      if ((r = ws()) != R::Ok) return r;
    }
  }
};

}  // namespace

std::variant<std::shared_ptr<const JsonConstraint>, std::string> JsonConstraint::compile(const json* schema) {
  auto c = std::make_shared<JsonConstraint>();
  if (!schema) {
    Node root;
    root.type = Node::Object;
    c->nodes_.push_back(root);
    return std::shared_ptr<const JsonConstraint>(c);
  }
  Compiler comp{c->nodes_, {}};
  comp.add(*schema, "schema", 0);
  if (!comp.error.empty()) return comp.error;
  if (c->nodes_[0].type != Node::Object) return std::string("schema: the root must be an object schema");
  return std::shared_ptr<const JsonConstraint>(c);
}

JsonConstraint::State JsonConstraint::check(std::string_view text) const {
  Parser p{nodes_, text};
  if (!p.eof() && text[0] != '{') return State::Invalid;  // no leading blank space
  R r = p.value(0, 0);
  if (r == R::Bad) return State::Invalid;
  if (r == R::Eof) return State::Partial;
  return p.eof() ? State::Complete : State::Invalid;
}

}  // namespace veritas::serve
