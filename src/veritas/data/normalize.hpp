#pragma once
// Normalization (curation stage 3): HTML residue (tags, comments, script/style bodies,
// character entities), terminal escape sequences, Unicode NFKC (utf8proc), control and
// zero-width characters, and whitespace (runs of blanks to one space, lines trimmed, at
// most one blank line between paragraphs). Idempotent: normalize(normalize(x)) ==
// normalize(x). Input must be valid UTF-8 (the hygiene stage guarantees it).
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace veritas {

struct NormalizeConfig {
  bool html = true;      // strip tags and decode entities
  bool nfkc = true;      // Unicode compatibility composition
  bool controls = true;  // drop control, zero-width and ANSI escape sequences
  bool whitespace = true;
  static NormalizeConfig from_json(const nlohmann::json& j);
};

std::string strip_html(std::string_view s);     // tags -> nothing or newline, entities decoded
std::string decode_entities(std::string_view s);
std::string nfkc(std::string_view s);           // throws Error on invalid UTF-8
std::string normalize_text(std::string_view s, const NormalizeConfig& cfg = {});

}  // namespace veritas
