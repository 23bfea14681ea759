#pragma once
// Text helpers shared by every stage: UTF-8 validation, JSON-safe strings, trimming.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace veritas {

// Returns the byte offset of the first invalid UTF-8 sequence, or npos when valid.
size_t utf8_invalid_offset(std::string_view s);
inline bool is_valid_utf8(std::string_view s) { return utf8_invalid_offset(s) == std::string_view::npos; }
// Replaces every invalid sequence with U+FFFD (so it can be stored in JSON).
std::string utf8_sanitize(std::string_view s);

std::string human_bytes(double bytes);  // "1.5 MiB"

// s without leading and trailing ASCII whitespace and ideographic spaces (U+3000).
std::string_view trim(std::string_view s);

// Decodes the code point at s[i] and advances i past it. For text already validated or
// sanitized (hot loops of the curation filters): it never reads past the end, and a
// stray continuation byte comes back as itself.
inline uint32_t utf8_next(std::string_view s, size_t& i) {
  unsigned char c = (unsigned char)s[i];
  if (c < 0x80) { ++i; return c; }
  int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
  uint32_t cp = c & (0x3F >> n);
  ++i;
  for (int k = 0; k < n && i < s.size(); ++k, ++i) cp = (cp << 6) | ((unsigned char)s[i] & 0x3F);
  return cp;
}
// ASCII whitespace, no-break space and the ideographic (full-width) space.
inline bool is_text_space(uint32_t c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0x3000 || c == 0xA0;
}

}  // namespace veritas
