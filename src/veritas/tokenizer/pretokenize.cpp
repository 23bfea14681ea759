#include "veritas/tokenizer/pretokenize.hpp"

#include <array>

#include <utf8proc.h>

namespace veritas::bpe {

namespace {

bool is_white_space(int32_t cp) {
  // The Unicode White_Space property (stable since Unicode 6.3).
  if (cp >= 9 && cp <= 13) return true;
  switch (cp) {
    case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

CharClass slow_class(int32_t cp) {
  if (cp < 0) return CharClass::Other;
  if (is_white_space(cp)) return CharClass::Space;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return CharClass::Letter;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return CharClass::Number;
    default:
      return CharClass::Other;
  }
}

struct AsciiTable {
  std::array<CharClass, 128> cls;
  AsciiTable() {
    for (int c = 0; c < 128; ++c) cls[c] = slow_class(c);
  }
};
const AsciiTable kAscii;

struct ByteMap {
  std::array<int32_t, 256> to_cp;
  std::array<int16_t, 324> from_cp;
  ByteMap() {
    from_cp.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? b : 256 + n++;
      from_cp[to_cp[b]] = (int16_t)b;
    }
  }
};
const ByteMap kBytes;

inline bool cont(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

size_t decode_char(std::string_view s, size_t i, int32_t& cp) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  size_t left = s.size() - i;
  unsigned char c = p[0];
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    if (left >= 2 && cont(p[1])) {
      cp = ((c & 0x1F) << 6) | (p[1] & 0x3F);
      return 2;
    }
  } else if (c >= 0xE0 && c <= 0xEF) {
    unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    if (left >= 3 && p[1] >= lo && p[1] <= hi && cont(p[2])) {
      cp = ((c & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
      return 3;
    }
  } else if (c >= 0xF0 && c <= 0xF4) {
    unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    if (left >= 4 && p[1] >= lo && p[1] <= hi && cont(p[2]) && cont(p[3])) {
      cp = ((c & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
      return 4;
    }
  }
  cp = -1;
  return 1;
}

CharClass char_class(int32_t cp) {
  if (cp >= 0 && cp < 128) return kAscii.cls[cp];
  return slow_class(cp);
}

bool PreTokenizer::next(std::string_view& piece) {
  return pattern_ == Pattern::Gpt2 ? next_gpt2(piece) : next_llama3(piece);
}

bool PreTokenizer::next_gpt2(std::string_view& piece) {
  const size_t n = s_.size(), i = pos_;
  if (i >= n) return false;
  int32_t cp;
  size_t len = decode_char(s_, i, cp);
  size_t end;
  // Extends a run of class `cls` starting at j; returns its end.
  auto run = [&](size_t j, CharClass cls) {
    while (j < n) {
      int32_t c;
      size_t l = decode_char(s_, j, c);
      if (char_class(c) != cls) break;
      j += l;
    }
    return j;
  };
  if (cp == '\'' && i + 1 < n &&
      (s_[i + 1] == 's' || s_[i + 1] == 't' || s_[i + 1] == 'm' || s_[i + 1] == 'd')) {
    end = i + 2;
  } else if (cp == '\'' && i + 2 < n &&
             (s_.compare(i + 1, 2, "re") == 0 || s_.compare(i + 1, 2, "ve") == 0 ||
              s_.compare(i + 1, 2, "ll") == 0)) {
    end = i + 3;
  } else {
    CharClass cls = char_class(cp);
    if (cp == ' ' && i + 1 < n) {
      // " ?X+": a single space joins the run of letters, numbers or others after it.
      int32_t c1;
      decode_char(s_, i + 1, c1);
      CharClass cls1 = char_class(c1);
      if (cls1 != CharClass::Space) {
        end = run(i + 1, cls1);
        piece = s_.substr(i, end - i);
        pos_ = end;
        return true;
      }
    }
    if (cls != CharClass::Space) {
      end = run(i + len, cls);
    } else {
      // \s+(?!\S): a whitespace run that is followed by a non-space gives its last
      // character to the next piece; a single one is matched alone by \s+.
      size_t j = i, last = i;
      while (j < n) {
        int32_t c;
        size_t l = decode_char(s_, j, c);
        if (char_class(c) != CharClass::Space) break;
        last = j;
        j += l;
      }
      if (j == n || last == i) end = j;
      else end = last;
    }
  }
  piece = s_.substr(i, end - i);
  pos_ = end;
  return true;
}

namespace {

inline bool is_newline(int32_t cp) { return cp == '\r' || cp == '\n'; }
inline char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

}  // namespace

// The alternatives in the pattern's order; the first that matches at pos_ wins.
bool PreTokenizer::next_llama3(std::string_view& piece) {
  const size_t n = s_.size(), i = pos_;
  if (i >= n) return false;
  int32_t cp;
  const size_t len = decode_char(s_, i, cp);
  const CharClass cls = char_class(cp);
  auto run = [&](size_t j, CharClass c, size_t max_chars) {
    for (size_t k = 0; j < n && k < max_chars; ++k) {
      int32_t c1;
      size_t l = decode_char(s_, j, c1);
      if (char_class(c1) != c) break;
      j += l;
    }
    return j;
  };
  auto take = [&](size_t end) {
    piece = s_.substr(i, end - i);
    pos_ = end;
    return true;
  };
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (cp == '\'' && i + 1 < n) {
    char a = lower(s_[i + 1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return take(i + 2);
    if (i + 2 < n) {
      char b = lower(s_[i + 2]);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return take(i + 3);
    }
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (cls == CharClass::Letter) return take(run(i + len, CharClass::Letter, SIZE_MAX));
  int32_t c1 = -2;
  size_t len1 = 0;
  if (i + len < n) len1 = decode_char(s_, i + len, c1);
  const CharClass cls1 = c1 == -2 ? CharClass::Other : char_class(c1);
  if (!is_newline(cp) && cls != CharClass::Number && len1 && cls1 == CharClass::Letter)
    return take(run(i + len + len1, CharClass::Letter, SIZE_MAX));
  // \p{N}{1,3} (Qwen2: \p{N})
  if (cls == CharClass::Number) return take(run(i, CharClass::Number, pattern_ == Pattern::Qwen2 ? 1 : 3));
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  size_t o = SIZE_MAX;
  if (cls == CharClass::Other) o = i;
  else if (cp == ' ' && len1 && cls1 == CharClass::Other) o = i + 1;
  if (o != SIZE_MAX) {
    size_t j = run(o, CharClass::Other, SIZE_MAX);
    while (j < n && is_newline((unsigned char)s_[j])) ++j;
    return take(j);
  }
  // Whitespace: \s*[\r\n]+ ends after the run's last newline; else \s+(?!\S) leaves
  // the run's last character to the next piece when a non-space follows; else \s+.
  size_t j = i, last = i, after_nl = 0;
  while (j < n) {
    int32_t c;
    size_t l = decode_char(s_, j, c);
    if (char_class(c) != CharClass::Space) break;
    if (is_newline(c)) after_nl = j + l;
    last = j;
    j += l;
  }
  if (after_nl) return take(after_nl);
  if (j == n || last == i) return take(j);
  return take(last);
}

int32_t byte_to_unicode(uint8_t b) { return kBytes.to_cp[b]; }

int byte_from_unicode(int32_t cp) {
  if (cp < 0 || cp >= (int32_t)kBytes.from_cp.size()) return -1;
  return kBytes.from_cp[cp];
}

std::string bytes_to_token_string(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    int32_t cp = kBytes.to_cp[b];
    if (cp < 0x80) {
      out.push_back((char)cp);
    } else {  // every alphabet code point is below U+0800: two bytes
      out.push_back((char)(0xC0 | (cp >> 6)));
      out.push_back((char)(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

bool token_string_to_bytes(std::string_view token, std::string& out) {
  out.clear();
  for (size_t i = 0; i < token.size();) {
    int32_t cp;
    i += decode_char(token, i, cp);
    int b = byte_from_unicode(cp);
    if (b < 0) return false;
    out.push_back((char)b);
  }
  return true;
}

}  // namespace veritas::bpe
