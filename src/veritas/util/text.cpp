#include "veritas/util/text.hpp"

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "veritas/util/error.hpp"

namespace veritas {

size_t utf8_invalid_offset(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    // Eight ASCII bytes at a time, the common case; the last eight of a text of at least
    // eight bytes, when all ASCII, end the check (the bytes before i are valid already).
    uint64_t w;
    size_t at = i + 8 <= n ? i : n >= 8 ? n - 8 : i;
    if (at + 8 <= n && (std::memcpy(&w, p + at, 8), (w & 0x8080808080808080ull) == 0)) {
      i = at + 8;
      continue;
    }
    unsigned char c = p[i];
    if (c < 0x80) { ++i; continue; }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return i;
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    size_t bad = utf8_invalid_offset(s);
    if (bad == std::string_view::npos) { out.append(s); break; }
    out.append(s.substr(0, bad));
    out.append("\xEF\xBF\xBD");
    s.remove_prefix(bad + 1);
    while (!s.empty() && ((unsigned char)s[0] & 0xC0) == 0x80) s.remove_prefix(1);
  }
  return out;
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view kIdeographicSpace = "\u3000";
  auto isspace = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };  // std::isspace in the C locale
  for (;;) {
    size_t b = 0;
    while (b < s.size() && isspace(s[b])) b++;
    s.remove_prefix(b);
    if (!s.starts_with(kIdeographicSpace)) break;
    s.remove_prefix(kIdeographicSpace.size());
  }
  for (;;) {
    size_t e = s.size();
    while (e > 0 && isspace(s[e - 1])) e--;
    s = s.substr(0, e);
    if (!s.ends_with(kIdeographicSpace)) break;
    s.remove_suffix(kIdeographicSpace.size());
  }
  return s;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) { b /= 1024; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

}  // namespace veritas
