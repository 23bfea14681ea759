#include "veritas/data/jsonl.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "veritas/util/error.hpp"

namespace veritas {

void append_json_string(std::string& out, std::string_view s) {
  // Invalid UTF-8 is rare (a detail cut inside a character): nlohmann's replacement
  // rules decide those bytes.
  if (!simdjson::validate_utf8(s.data(), s.size())) {
    out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  append_json_string_valid(out, s);
}

void append_json_string_valid(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  // Whether any of 8 bytes is < 0x20, '"' or '\\' (exact for "any": SWAR zero-byte tests).
  auto needs_escape = [](uint64_t w) {
    constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
    auto zero_byte = [&](uint64_t x) { return (x - kOnes) & ~x & kHigh; };
    return (((w - kOnes * 0x20) & ~w & kHigh) | zero_byte(w ^ (kOnes * '"')) | zero_byte(w ^ (kOnes * '\\'))) != 0;
  };
  out += '"';
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 8 <= s.size()) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (!needs_escape(w)) {
        i += 7;
        continue;
      }
    }
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out += '\\';
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '\b': out += 'b'; break;
      case '\t': out += 't'; break;
      case '\n': out += 'n'; break;
      case '\f': out += 'f'; break;
      case '\r': out += 'r'; break;
      default:
        out += "u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  // Integral values below 1e15 print as their digits and ".0" (as nlohmann does);
  // the common case for counts, and much cheaper than the shortest-digits search.
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    if (v == 0) {
      out += std::signbit(v) ? "-0.0" : "0.0";
      return;
    }
    out += std::to_string((int64_t)v);
    out += ".0";
    return;
  }
  // Otherwise nlohmann's own float formatting (Grisu2).
  char buf[64];
  char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

}  // namespace veritas
