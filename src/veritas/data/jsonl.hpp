#pragma once
// Curation's JSONL output (its input is read by util/line_reader.hpp's LineReader).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace veritas {

// JSON output with the bytes of nlohmann::json::dump() (compact, ensure_ascii off,
// invalid UTF-8 replaced by U+FFFD), so records need no intermediate json object.
void append_json_string(std::string& out, std::string_view s);  // quoted and escaped
void append_json_string_valid(std::string& out, std::string_view s);  // s known to be valid UTF-8
void append_json_number(std::string& out, double v);            // shortest round-trip; null if not finite

}  // namespace veritas
