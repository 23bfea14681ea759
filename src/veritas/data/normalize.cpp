#include "veritas/data/normalize.hpp"

#include <utf8proc.h>

#include <array>
#include <cstdlib>
#include <vector>
#include <cstring>

#include "veritas/util/config.hpp"
#include "veritas/util/error.hpp"

namespace veritas {

NormalizeConfig NormalizeConfig::from_json(const nlohmann::json& j) {
  NormalizeConfig c;
  c.html = get_or(j, "html", c.html);
  c.nfkc = get_or(j, "nfkc", c.nfkc);
  c.controls = get_or(j, "controls", c.controls);
  c.whitespace = get_or(j, "whitespace", c.whitespace);
  return c;
}

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) out += (char)cp;
  else if (cp < 0x800) { out += (char)(0xC0 | (cp >> 6)); out += (char)(0x80 | (cp & 0x3F)); }
  else if (cp < 0x10000) {
    out += (char)(0xE0 | (cp >> 12)); out += (char)(0x80 | ((cp >> 6) & 0x3F)); out += (char)(0x80 | (cp & 0x3F));
  } else {
    out += (char)(0xF0 | (cp >> 18)); out += (char)(0x80 | ((cp >> 12) & 0x3F));
    out += (char)(0x80 | ((cp >> 6) & 0x3F)); out += (char)(0x80 | (cp & 0x3F));
  }
}

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if ((char)std::tolower((unsigned char)a[i]) != (char)std::tolower((unsigned char)b[i])) return false;
  return true;
}

// Tags whose removal should separate text (a paragraph or line break in the page).
bool is_block_tag(std::string_view t) {
  static const char* kBlock[] = {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
                                 "table", "section", "article", "header", "footer", "nav", "blockquote",
                                 "pre", "hr", "dd", "dt", "dl", "title", "body", "html", "head", "form"};
  for (auto* b : kBlock) if (ieq(t, b)) return true;
  return false;
}
// Only known HTML element names count as tags, so "a < b and c > d" in prose survives.
bool is_html_tag(std::string_view t) {
  static const char* kTags[] = {
      "a", "abbr", "b", "big", "body", "br", "button", "center", "code", "dd", "div", "dl", "dt", "em",
      "font", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hr", "html", "i",
      "iframe", "img", "input", "label", "li", "link", "meta", "nav", "noscript", "ol", "option", "p",
      "pre", "s", "script", "section", "select", "small", "span", "strong", "style", "sub", "sup", "table",
      "tbody", "td", "th", "thead", "title", "tr", "u", "ul", "article", "aside", "blockquote", "figure",
      "figcaption", "main", "svg", "textarea", "time", "video", "audio", "source", "canvas", "cite", "q"};
  for (auto* k : kTags) if (ieq(t, k)) return true;
  return false;
}

struct Entity { const char* name; uint32_t cp; };
const Entity kEntities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0},
    {"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122}, {"mdash", 0x2014}, {"ndash", 0x2013},
    {"hellip", 0x2026}, {"laquo", 0xAB}, {"raquo", 0xBB}, {"ldquo", 0x201C}, {"rdquo", 0x201D},
    {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"middot", 0xB7}, {"times", 0xD7}, {"deg", 0xB0},
    {"euro", 0x20AC}, {"pound", 0xA3}, {"yen", 0xA5}, {"cent", 0xA2}, {"sect", 0xA7}, {"bull", 0x2022},
    {"emsp", 0x2003}, {"ensp", 0x2002}, {"thinsp", 0x2009}, {"zwj", 0x200D}, {"zwnj", 0x200C}};

}  // namespace

std::string decode_entities(std::string_view s) {
  if (s.find('&') == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '&') { out += s[i++]; continue; }
    size_t semi = s.find(';', i + 1);
    if (semi == std::string_view::npos || semi - i > 12) { out += s[i++]; continue; }
    std::string_view body = s.substr(i + 1, semi - i - 1);
    uint32_t cp = 0;
    bool ok = false;
    if (!body.empty() && body[0] == '#') {
      bool hex = body.size() > 1 && (body[1] == 'x' || body[1] == 'X');
      std::string digits(body.substr(hex ? 2 : 1));
      if (!digits.empty() && digits.size() <= 7) {
        char* end = nullptr;
        unsigned long v = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
        // Only valid scalar values; NUL and surrogates stay as literal text.
        if (*end == 0 && v > 0 && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF)) { cp = (uint32_t)v; ok = true; }
      }
    } else {
      for (auto& e : kEntities)
        if (body == e.name) { cp = e.cp; ok = true; break; }
    }
    if (!ok) { out += s[i++]; continue; }
    append_utf8(out, cp);
    i = semi + 1;
  }
  return out;
}

std::string strip_html(std::string_view s) {
  if (s.find('<') == std::string_view::npos) return decode_entities(s);
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c != '<') { out += c; ++i; continue; }
    // Comments.
    if (s.compare(i, 4, "<!--") == 0) {
      size_t e = s.find("-->", i + 4);
      i = e == std::string_view::npos ? s.size() : e + 3;
      continue;
    }
    size_t j = i + 1;
    bool closing = j < s.size() && s[j] == '/';
    if (closing) ++j;
    size_t name_start = j;
    while (j < s.size() && std::isalnum((unsigned char)s[j])) ++j;
    std::string_view name = s.substr(name_start, j - name_start);
    bool bang = !closing && name.empty() && j < s.size() && s[j] == '!';  // <!DOCTYPE ...>
    if (!bang && (name.empty() || !is_html_tag(name))) { out += c; ++i; continue; }
    // The tag ends at the next '>' on a short stretch without another '<'.
    size_t gt = s.find('>', j);
    size_t lt = s.find('<', j);
    if (gt == std::string_view::npos || (lt != std::string_view::npos && lt < gt) || gt - i > 2048) {
      out += c; ++i; continue;
    }
    i = gt + 1;
    if (bang) continue;
    // Script and style bodies are code, not text.
    if (!closing && (ieq(name, "script") || ieq(name, "style"))) {
      std::string close = "</" + std::string(name);
      size_t k = i;
      for (;;) {
        k = s.find("</", k);
        if (k == std::string_view::npos) { i = s.size(); break; }
        if (ieq(s.substr(k, close.size()), close)) {
          size_t g = s.find('>', k);
          i = g == std::string_view::npos ? s.size() : g + 1;
          break;
        }
        k += 2;
      }
      continue;
    }
    if (is_block_tag(name)) out += '\n';
    else if (!out.empty() && out.back() != ' ' && ieq(name, "td")) out += ' ';
  }
  return decode_entities(out);
}

namespace {

constexpr auto kNfkcOptions = (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);

std::string nfkc_utf8proc(std::string_view s) {
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t*)s.data(), (utf8proc_ssize_t)s.size(), &dst, kNfkcOptions);
  if (n < 0) throw Error(std::string("NFKC normalization failed: ") + utf8proc_errmsg(n));
  std::string out((const char*)dst, (size_t)n);
  std::free(dst);
  return out;
}

bool is_hangul_jamo_or_syllable(int32_t cp) {  // composed by rule, not by table
  return (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xA960 && cp <= 0xA97F) || (cp >= 0xAC00 && cp <= 0xD7FF);
}

// NFKC quick check for the BMP. NFKC of a text is the concatenation of NFKC of its
// pieces when each piece starts at a boundary: a character that cannot interact with
// what precedes it (combining class 0, and not the second character of a canonical
// composition, also after its own decomposition).
//   kStable:   a boundary, and NFKC leaves it unchanged (no decomposition);
//   kBoundary: a boundary that NFKC changes (e.g. fullwidth forms); alone[cp] is its NFKC;
//   kContext:  anything else (marks, jamo, astral planes): normalized with its neighbours.
enum : uint8_t { kContext, kStable, kBoundary };
struct NfkcTable {
  std::vector<uint8_t> cls = std::vector<uint8_t>(0x10000, kContext);
  std::vector<std::string> alone = std::vector<std::string>(0x10000);
  NfkcTable() {
    // Characters that can compose with a preceding one: every non-initial character of
    // a canonical decomposition (a superset of the composition seconds, which is safe).
    std::vector<bool> second(0x110000, false);
    utf8proc_int32_t buf[32];
    for (int32_t cp = 0; cp < 0x110000; ++cp) {
      const utf8proc_property_t* pr = utf8proc_get_property(cp);
      if (pr->decomp_seqindex == UINT16_MAX || pr->decomp_type != 0) continue;
      utf8proc_ssize_t n = utf8proc_decompose_char(cp, buf, 32, UTF8PROC_DECOMPOSE, nullptr);
      for (utf8proc_ssize_t k = 1; k < n && k < 32; ++k) second[buf[k]] = true;
    }
    auto starter = [&](int32_t cp) {
      return utf8proc_get_property(cp)->combining_class == 0 && !second[cp] && !is_hangul_jamo_or_syllable(cp);
    };
    for (int32_t cp = 0; cp < 0x10000; ++cp) {
      if ((cp >= 0xD800 && cp <= 0xDFFF) || !starter(cp)) continue;
      if (utf8proc_get_property(cp)->decomp_seqindex == UINT16_MAX) {
        cls[cp] = kStable;
        continue;
      }
      utf8proc_ssize_t n = utf8proc_decompose_char(cp, buf, 32, (utf8proc_option_t)(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT), nullptr);
      if (n < 1 || n > 32 || !starter(buf[0])) continue;
      cls[cp] = kBoundary;
      utf8proc_uint8_t u[4];
      utf8proc_ssize_t len = utf8proc_encode_char(cp, u);
      alone[cp] = nfkc_utf8proc(std::string_view((const char*)u, (size_t)len));
    }
  }
};
const NfkcTable& nfkc_table() {
  static const NfkcTable t;
  return t;
}

// NFKC of s into out; false (and out empty) when s is already NFKC.
bool nfkc_changed(std::string_view s, std::string& out) {
  const NfkcTable& t = nfkc_table();
  const auto* p = (const unsigned char*)s.data();
  size_t n = s.size();
  // Class of the character at i and its length in bytes.
  int32_t cp = 0;
  auto class_at = [&](size_t i, size_t& len) -> uint8_t {
    if (p[i] < 0x80) {
      len = 1;
      return kStable;
    }
    utf8proc_ssize_t l = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
    if (l <= 0) throw Error("NFKC normalization failed: invalid UTF-8 at byte " + std::to_string(i));
    len = (size_t)l;
    return cp < 0x10000 ? t.cls[cp] : kContext;
  };
  out.clear();
  size_t i = 0, prev = 0, copied = 0, len = 0;
  while (i < n) {
    if (i + 8 <= n) {  // eight ASCII bytes at once: all stable
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        prev = i + 7;
        i += 8;
        continue;
      }
    }
    uint8_t c = class_at(i, len);
    if (c == kStable) {
      prev = i;
      i += len;
      continue;
    }
    // A piece from the last boundary to the next one goes through utf8proc.
    int32_t first = cp;
    size_t start = c == kBoundary ? i : (i > 0 ? prev : 0), end = i + len;
    while (end < n && class_at(end, len) == kContext) end += len;
    out.append(s.data() + copied, start - copied);
    if (c == kBoundary && end == i + len) out += t.alone[first];
    else out += nfkc_utf8proc(s.substr(start, end - start));
    copied = i = end;
  }
  if (copied == 0) return false;
  out.append(s.data() + copied, n - copied);
  return true;
}

// Drops C0/C1 controls (except tab and newline), zero-width characters, BOM and ANSI
// escape sequences; maps other Unicode spaces to ' ' and line/paragraph separators to
// '\n'. Output goes to put(const char*, size_t): never more bytes than the input.
template <class Put>
void clean_controls(std::string_view s, Put&& put) {
  // Bytes that may start something to change: ASCII controls, and the lead bytes of
  // U+0080..U+00BF (C2), U+2000..U+206F (E2), U+3000 (E3) and U+FEFF (EF).
  static const auto kSpecial = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[c] = c != '\n';
    t[0x7F] = t[0xC2] = t[0xE2] = t[0xE3] = t[0xEF] = true;
    return t;
  }();
  const auto* p = (const unsigned char*)s.data();
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    size_t run = i;  // bytes copied as they are
    while (run < n && !kSpecial[p[run]]) ++run;
    if (run > i) {
      put(s.data() + i, run - i);
      i = run;
      if (i == n) break;
    }
    unsigned char c = p[i];
    if (c < 0x80) {
      if (c == 0x1B) {  // ESC [ params final-byte
        size_t j = i + 1;
        if (j < n && p[j] == '[') {
          ++j;
          while (j < n && !(p[j] >= 0x40 && p[j] <= 0x7E)) ++j;
          i = j < n ? j + 1 : n;
        } else {
          i = j;
        }
        continue;
      }
      if (c == '\r') { put("\n", 1); ++i; if (i < n && p[i] == '\n') ++i; continue; }
      if (c == '\t') { put(" ", 1); ++i; continue; }
      ++i;  // other C0 controls and DEL
      continue;
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t len = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
    if (len <= 0) throw Error("invalid UTF-8 at byte " + std::to_string(i));
    if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x200B || cp == 0x200C || cp == 0x200D || cp == 0x2060 ||
        cp == 0xFEFF || cp == 0xAD) {
      i += len;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) { put("\n", 1); i += len; continue; }
    if (cp == 0xA0 || cp == 0x3000 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F) {
      put(" ", 1);
      i += len;
      continue;
    }
    put(s.data() + i, (size_t)len);
    i += len;
  }
}

// Collapses blank runs to one space, trims each line, keeps at most one empty line.
// Takes pieces of text in order; writes to a buffer at least as long as the input.
class WhitespaceCleaner {
 public:
  explicit WhitespaceCleaner(char* out) : begin_(out), o_(out) {}
  void operator()(const char* s, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      char c = s[i];
      if (c == ' ') { pending_space_ = true; continue; }
      if (c == '\n') { ++newlines_; pending_space_ = false; continue; }
      if (o_ != begin_) {
        if (newlines_ > 0) {
          *o_++ = '\n';
          if (newlines_ >= 2) *o_++ = '\n';
        } else if (pending_space_) {
          *o_++ = ' ';
        }
      }
      newlines_ = 0;
      pending_space_ = false;
      *o_++ = c;
    }
  }
  size_t size() const { return (size_t)(o_ - begin_); }

 private:
  char* begin_;
  char* o_;
  int newlines_ = 0;
  bool pending_space_ = false;
};

}  // namespace

std::string nfkc(std::string_view s) {
  std::string out;
  return nfkc_changed(s, out) ? out : std::string(s);
}

std::string normalize_text(std::string_view s, const NormalizeConfig& cfg) {
  std::string t, tmp;  // t holds the text once a pass has rewritten it
  std::string_view v = s;
  // strip_html changes nothing in a text without '<' and '&' (two memchr scans are much
  // faster than find_first_of, which tests each byte against the set).
  if (cfg.html && (v.find('<') != std::string_view::npos || v.find('&') != std::string_view::npos)) {
    t = strip_html(v);
    v = t;
  }
  if (cfg.nfkc && nfkc_changed(v, tmp)) {
    t.swap(tmp);
    v = t;
  }
  // Controls and whitespace in one pass; neither makes the text longer.
  std::string out(v.size(), '\0');
  char* o = out.data();
  auto copy = [&o](const char* p, size_t n) {
    std::memcpy(o, p, n);
    o += n;
  };
  WhitespaceCleaner ws(out.data());
  if (cfg.controls && cfg.whitespace) clean_controls(v, ws);
  else if (cfg.controls) clean_controls(v, copy);
  else if (cfg.whitespace) ws(v.data(), v.size());
  else copy(v.data(), v.size());
  out.resize(cfg.whitespace ? ws.size() : (size_t)(o - out.data()));
  // NFKC can expose characters (e.g. U+2028 from compatibility forms) that the later
  // passes handle, and the passes cannot create new NFKC work: one round is stable.
  return out;
}

}  // namespace veritas
