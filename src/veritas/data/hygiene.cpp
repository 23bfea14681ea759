#include "veritas/data/hygiene.hpp"

#include <algorithm>
#include <charconv>

#include <simdjson.h>

#include "veritas/data/jsonl.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/config.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/text.hpp"

namespace veritas {

HygieneConfig HygieneConfig::from_json(const nlohmann::json& j) {
  HygieneConfig c;
  c.max_line_bytes = get_or<size_t>(j, "max_line_bytes", c.max_line_bytes);
  c.required = get_or(j, "required_fields", c.required);
  check(c.max_line_bytes >= 64, "input.max_line_bytes must be at least 64");
  for (auto& f : c.required)
    check(f == "id" || f == "text" || f == "source" || f == "visibility" || f == "author" || f == "url" ||
              f == "created_at" || f == "title" || f == "lang",
          "input.required_fields: unknown field '" + f + "'");
  return c;
}

namespace {

// Field::Type of a parsed nlohmann value.
Field::Type field_type(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return Field::Null;
    case nlohmann::json::value_t::boolean: return Field::Boolean;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return Field::Integer;
    case nlohmann::json::value_t::number_float: return Field::Float;
    case nlohmann::json::value_t::string: return Field::String;
    case nlohmann::json::value_t::array: return Field::Array;
    default: return Field::Object;
  }
}

// The general parser: every line the fast path does not take, and the source of the
// exact error messages (nlohmann's) in the reject details.
Decision parse_slow(std::string_view line, std::vector<Field>& fields) {
  size_t bad = utf8_invalid_offset(line);
  if (bad != std::string_view::npos)
    return Decision::drop("input.invalid_utf8", "invalid UTF-8 at byte offset " + std::to_string(bad));
  nlohmann::json raw;
  try {
    raw = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based position of the failure.
    std::string what = e.what();
    auto p = what.find("parse error");
    return Decision::drop("input.malformed_json", "byte offset " + std::to_string(e.byte ? e.byte - 1 : 0) + ": " +
                                                       (p != std::string::npos ? what.substr(p) : what));
  } catch (const nlohmann::json::exception& e) {
    // A number beyond the double range ("1e999") is out_of_range, not parse_error; it
    // must reject the line, not end the run.
    std::string what = e.what();
    auto p = what.find("] ");
    return Decision::drop("input.malformed_json", p != std::string::npos ? what.substr(p + 2) : what);
  }
  if (!raw.is_object()) return Decision::drop("input.not_object", std::string("a JSON ") + raw.type_name());
  // nlohmann objects are sorted by key and keep the last of duplicate keys.
  for (auto& [k, v] : raw.items()) {
    Field f{k, field_type(v), {}};
    f.value = v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    fields.push_back(std::move(f));
  }
  return Decision::ok();
}

// simdjson, for the common case: an object of strings, integers, booleans and nulls
// without duplicate keys. Anything else (errors included) returns false and goes to
// parse_slow, so the result never depends on which parser read the line.
bool parse_fast(std::string_view line, std::vector<Field>& fields) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(line.data(), line.size()).get_object().get(obj) != simdjson::SUCCESS) return false;
  char num[24];
  fields.reserve(obj.size());
  for (auto kv : obj) {
    Field f{std::string(kv.key), Field::Null, {}};
    simdjson::dom::element v = kv.value;
    switch (v.type()) {
      case simdjson::dom::element_type::STRING: {
        f.type = Field::String;
        f.value = std::string_view(v);
        break;
      }
      case simdjson::dom::element_type::INT64: {
        f.type = Field::Integer;
        auto r = std::to_chars(num, num + sizeof num, int64_t(v));
        f.value.assign(num, r.ptr);
        break;
      }
      case simdjson::dom::element_type::BOOL:
        f.type = Field::Boolean;
        f.value = bool(v) ? "true" : "false";
        break;
      case simdjson::dom::element_type::NULL_VALUE:
        f.value = "null";
        break;
      default:  // floats (formatting), unsigned beyond int64, arrays, objects
        return false;
    }
    fields.push_back(std::move(f));
  }
  // Duplicates make the parse fall back, so a plain sort is enough (and does not allocate).
  std::sort(fields.begin(), fields.end(), [](const Field& a, const Field& b) { return a.key < b.key; });
  for (size_t i = 1; i < fields.size(); ++i)
    if (fields[i].key == fields[i - 1].key) return false;
  return true;
}

}  // namespace

Decision parse_document(std::string_view line, bool too_long, const HygieneConfig& cfg, Document& doc) {
  if (too_long)
    return Decision::drop("input.oversized_line", "line longer than " + std::to_string(cfg.max_line_bytes) + " bytes");
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return Decision::drop("input.blank_line", "");
  // simdjson validates UTF-8 and JSON: a line it accepts is valid for both checks.
  doc.fields.clear();
  if (!parse_fast(line, doc.fields)) {
    doc.fields.clear();
    Decision d = parse_slow(line, doc.fields);
    if (!d.keep) return d;
  }
  // One pass over the fields for the ones with a type to check (in this order).
  static constexpr std::string_view kTyped[] = {"text", "source", "author", "url", "title", "created_at", "lang"};
  const Field* id = nullptr;
  Field* typed[std::size(kTyped)] = {};
  for (Field& f : doc.fields) {
    if (f.key == "id") id = &f;
    else
      for (size_t k = 0; k < std::size(kTyped); ++k)
        if (f.key == kTyped[k]) typed[k] = &f;
  }
  // id: a string, or an integer (converted to its decimal text, as int64).
  if (id && id->type != Field::Null) {
    if (id->type == Field::String) doc.id = id->value;
    else if (id->type == Field::Integer)
      doc.id = id->value[0] == '-' ? id->value : std::to_string((int64_t)std::stoull(id->value));
    else return Decision::drop("input.bad_field_type", std::string("id is a ") + type_name(id->type));
  }
  for (const auto& f : cfg.required) {
    const Field* r = doc.field(f);
    if (!r || r->type == Field::Null) return Decision::drop("input.missing_field", f);
  }
  for (size_t k = 0; k < std::size(kTyped); ++k)
    if (typed[k] && typed[k]->type != Field::Null && typed[k]->type != Field::String)
      return Decision::drop("input.bad_field_type", std::string(kTyped[k]) + " is a " + type_name(typed[k]->type));
  // The input text is not written back (kept.jsonl carries the normalized one): move it.
  if (Field* t = typed[0]; t && t->type == Field::String) doc.text = std::move(t->value);
  if (Field* t = typed[4]; t && t->type == Field::String) doc.title = t->value;
  return Decision::ok();
}

std::string normalize_url(std::string_view url) {
  std::string u(url);
  // Trim spaces, drop the fragment, lowercase scheme and host, drop a trailing '/'.
  while (!u.empty() && (u.back() == ' ' || u.back() == '\t')) u.pop_back();
  size_t s = u.find_first_not_of(" \t");
  u = s == std::string::npos ? "" : u.substr(s);
  size_t hash = u.find('#');
  if (hash != std::string::npos) u.resize(hash);
  size_t scheme = u.find("://");
  size_t host_start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t host_end = u.find('/', host_start);
  if (host_end == std::string::npos) host_end = u.size();
  for (size_t i = 0; i < host_end; ++i) u[i] = (char)std::tolower((unsigned char)u[i]);
  // http and https name the same resource for opt-out purposes.
  if (u.rfind("https://", 0) == 0) u.erase(4, 1);
  if (u.rfind("http://www.", 0) == 0) u.erase(7, 4);
  while (u.size() > 1 && u.back() == '/') u.pop_back();
  return u;
}

void VisibilityConfig::add_optout_file(const std::string& path) {
  LineReader r(path, 1 << 16);
  std::string line;
  while (r.next(line)) {
    size_t s = line.find_first_not_of(" \t");
    if (s == std::string::npos || line[s] == '#') continue;
    line = line.substr(s);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
    auto colon = line.find(':');
    check(colon != std::string::npos,
          path + ":" + std::to_string(r.line_number()) + ": expected id:VALUE, author:VALUE or url:VALUE");
    std::string kind = line.substr(0, colon), value = line.substr(colon + 1);
    if (kind == "id") optout_ids.insert(value);
    else if (kind == "author") optout_authors.insert(value);
    else if (kind == "url") optout_urls.push_back(normalize_url(value));
    else throw Error(path + ":" + std::to_string(r.line_number()) + ": unknown opt-out kind '" + kind + "'");
  }
}

VisibilityConfig VisibilityConfig::from_json(const nlohmann::json& j, const std::string& base_dir) {
  VisibilityConfig c;
  c.allow = get_or(j, "allow", c.allow);
  for (auto& s : get_or(j, "optout_ids", std::vector<std::string>{})) c.optout_ids.insert(s);
  for (auto& s : get_or(j, "optout_authors", std::vector<std::string>{})) c.optout_authors.insert(s);
  for (auto& s : get_or(j, "optout_urls", std::vector<std::string>{})) c.optout_urls.push_back(normalize_url(s));
  std::string file = get_or(j, "optout_file", std::string());
  if (!file.empty()) {
    if (file[0] != '/' && !base_dir.empty()) file = base_dir + "/" + file;
    c.add_optout_file(file);
  }
  return c;
}

Decision check_visibility(const Document& doc, const VisibilityConfig& cfg) {
  const Field* v = doc.field("visibility");
  if (!v || v->type == Field::Null) return Decision::drop("visibility.missing", "no visibility field");
  if (v->type != Field::String) return Decision::drop("visibility.invalid", std::string("visibility is a ") + type_name(v->type));
  const std::string& vis = v->value;
  if (std::find(cfg.allow.begin(), cfg.allow.end(), vis) == cfg.allow.end())
    return Decision::drop("visibility.not_public", "visibility=" + vis.substr(0, 64));
  if (!cfg.optout_ids.empty() && cfg.optout_ids.count(doc.id)) return Decision::drop("visibility.optout_id", doc.id);
  const std::string* a = doc.string_field("author");
  if (!cfg.optout_authors.empty() && a && cfg.optout_authors.count(*a))
    return Decision::drop("visibility.optout_author", *a);
  const std::string* u = doc.string_field("url");
  if (!cfg.optout_urls.empty() && u) {
    std::string url = normalize_url(*u);
    for (const auto& o : cfg.optout_urls) {
      bool prefix = !o.empty() && o.back() == '*';
      if (prefix ? url.compare(0, o.size() - 1, o, 0, o.size() - 1) == 0 : url == o)
        return Decision::drop("visibility.optout_url", o);
    }
  }
  return Decision::ok();
}

}  // namespace veritas
