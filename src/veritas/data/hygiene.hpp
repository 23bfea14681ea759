#pragma once
// Input hygiene (curation stage 1) and the visibility gate with the opt-out list
// (stage 2). Every problem becomes a Decision with a reason code (docs/curation.md);
// nothing here throws on bad input, so one bad line never stops a run.
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/data/document.hpp"

namespace veritas {

struct HygieneConfig {
  size_t max_line_bytes = 4u << 20;
  std::vector<std::string> required = {"id", "text"};
  static HygieneConfig from_json(const nlohmann::json& j);
};

// Parses one JSONL line into doc (raw, id, text, title). Reasons: input.blank_line,
// input.oversized_line, input.invalid_utf8, input.malformed_json, input.not_object,
// input.missing_field, input.bad_field_type.
Decision parse_document(std::string_view line, bool too_long, const HygieneConfig& cfg, Document& doc);

struct VisibilityConfig {
  std::vector<std::string> allow = {"public"};  // exact, case-sensitive: default deny
  std::unordered_set<std::string> optout_ids, optout_authors;
  std::vector<std::string> optout_urls;         // normalized; a trailing '*' is a prefix match
  // Keys: allow, optout_ids, optout_authors, optout_urls, optout_file (lines "id:X",
  // "author:X" or "url:X"; '#' comments; relative paths against base_dir).
  static VisibilityConfig from_json(const nlohmann::json& j, const std::string& base_dir = "");
  void add_optout_file(const std::string& path);
};

std::string normalize_url(std::string_view url);  // lowercase scheme/host, no fragment, no trailing '/'

// Reasons: visibility.missing, visibility.invalid, visibility.not_public,
// visibility.optout_id, visibility.optout_author, visibility.optout_url.
Decision check_visibility(const Document& doc, const VisibilityConfig& cfg);

}  // namespace veritas
