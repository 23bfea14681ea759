#include "veritas/data/hygiene.hpp"

#include <algorithm>

#include "veritas/data/jsonl.hpp"
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

Decision parse_document(std::string_view line, bool too_long, const HygieneConfig& cfg, Document& doc) {
  if (too_long)
    return Decision::drop("input.oversized_line", "line longer than " + std::to_string(cfg.max_line_bytes) + " bytes");
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return Decision::drop("input.blank_line", "");
  size_t bad = utf8_invalid_offset(line);
  if (bad != std::string_view::npos)
    return Decision::drop("input.invalid_utf8", "invalid UTF-8 at byte offset " + std::to_string(bad));
  try {
    doc.raw = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based position of the failure.
    std::string what = e.what();
    auto p = what.find("parse error");
    return Decision::drop("input.malformed_json", "byte offset " + std::to_string(e.byte ? e.byte - 1 : 0) + ": " +
                                                       (p != std::string::npos ? what.substr(p) : what));
  }
  if (!doc.raw.is_object()) return Decision::drop("input.not_object", std::string("a JSON ") + doc.raw.type_name());
  // id: a string, or an integer (converted to its decimal text).
  auto it = doc.raw.find("id");
  if (it != doc.raw.end() && !it->is_null()) {
    if (it->is_string()) doc.id = it->get<std::string>();
    else if (it->is_number_integer()) doc.id = std::to_string(it->get<int64_t>());
    else return Decision::drop("input.bad_field_type", std::string("id is a ") + it->type_name());
  }
  for (const auto& f : cfg.required) {
    auto r = doc.raw.find(f);
    if (r == doc.raw.end() || r->is_null()) return Decision::drop("input.missing_field", f);
  }
  for (const char* f : {"text", "source", "author", "url", "title", "created_at", "lang"}) {
    auto r = doc.raw.find(f);
    if (r != doc.raw.end() && !r->is_null() && !r->is_string())
      return Decision::drop("input.bad_field_type", std::string(f) + " is a " + r->type_name());
  }
  auto t = doc.raw.find("text");
  if (t != doc.raw.end() && t->is_string()) doc.text = t->get<std::string>();
  auto ti = doc.raw.find("title");
  if (ti != doc.raw.end() && ti->is_string()) doc.title = ti->get<std::string>();
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
  JsonlReader r(path, 1 << 16);
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
  auto v = doc.raw.find("visibility");
  if (v == doc.raw.end() || v->is_null()) return Decision::drop("visibility.missing", "no visibility field");
  if (!v->is_string()) return Decision::drop("visibility.invalid", std::string("visibility is a ") + v->type_name());
  const std::string& vis = v->get_ref<const std::string&>();
  if (std::find(cfg.allow.begin(), cfg.allow.end(), vis) == cfg.allow.end())
    return Decision::drop("visibility.not_public", "visibility=" + vis.substr(0, 64));
  if (!cfg.optout_ids.empty() && cfg.optout_ids.count(doc.id)) return Decision::drop("visibility.optout_id", doc.id);
  auto a = doc.raw.find("author");
  if (!cfg.optout_authors.empty() && a != doc.raw.end() && a->is_string() &&
      cfg.optout_authors.count(a->get<std::string>()))
    return Decision::drop("visibility.optout_author", a->get<std::string>());
  auto u = doc.raw.find("url");
  if (!cfg.optout_urls.empty() && u != doc.raw.end() && u->is_string()) {
    std::string url = normalize_url(u->get<std::string>());
    for (const auto& o : cfg.optout_urls) {
      bool prefix = !o.empty() && o.back() == '*';
      if (prefix ? url.compare(0, o.size() - 1, o, 0, o.size() - 1) == 0 : url == o)
        return Decision::drop("visibility.optout_url", o);
    }
  }
  return Decision::ok();
}

}  // namespace veritas
