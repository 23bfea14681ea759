// Quality heuristics: one pass decodes the text and collects per-line, per-word and
// per-character statistics; the n-gram rules then run over the word (or, for Chinese,
// character) hashes with a reused open-addressing table. The rules and defaults are the
// published ones (Gopher, C4, FineWeb; FineWeb-2 / ChineseWebText / MAP-CC for Chinese).
#include "veritas/data/quality.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <queue>

#include "veritas/data/hash_counter.hpp"
#include "veritas/util/config.hpp"
#include "veritas/util/hash.hpp"
#include "veritas/util/text.hpp"

namespace veritas {

// ---------------------------------------------------------------- PhraseMatcher
PhraseMatcher::PhraseMatcher(const std::vector<std::string>& phrases) : phrases_(phrases) {
  auto fold = [](unsigned char c) -> unsigned char { return (c >= 'A' && c <= 'Z') ? c + 32 : c; };
  // Trie with goto on folded bytes; upper-case bytes get the same transitions below.
  std::vector<std::array<int32_t, 256>> go(1);
  go[0].fill(-1);
  std::vector<std::vector<int32_t>> out(1);
  for (size_t p = 0; p < phrases_.size(); ++p) {
    const std::string& ph = phrases_[p];
    bound_left_.push_back(!ph.empty() && is_word_byte((unsigned char)ph.front()));
    bound_right_.push_back(!ph.empty() && is_word_byte((unsigned char)ph.back()));
    max_len_ = std::max(max_len_, ph.size());
    if (ph.empty()) continue;
    int32_t st = 0;
    for (unsigned char c : ph) {
      c = fold(c);
      if (go[st][c] < 0) {
        go[st][c] = (int32_t)go.size();
        go.emplace_back();
        go.back().fill(-1);
        out.emplace_back();
      }
      st = go[st][c];
    }
    out[st].push_back((int32_t)p);
  }
  size_t n = go.size();
  std::vector<int32_t> fail(n, 0);
  std::vector<int32_t> delta(n * 256, 0);
  std::queue<int32_t> q;
  for (int c = 0; c < 256; ++c) {
    int32_t s = go[0][fold((unsigned char)c)];
    delta[c] = s < 0 ? 0 : s;
    if (s > 0 && c == fold((unsigned char)c)) { fail[s] = 0; q.push(s); }
  }
  while (!q.empty()) {
    int32_t r = q.front();
    q.pop();
    for (int32_t o : out[fail[r]]) out[r].push_back(o);
    for (int c = 0; c < 256; ++c) {
      int32_t s = go[r][fold((unsigned char)c)];
      if (s >= 0) {
        delta[(size_t)r * 256 + c] = s;
        if (c == fold((unsigned char)c)) {
          fail[s] = delta[(size_t)fail[r] * 256 + c];
          q.push(s);
        }
      } else {
        delta[(size_t)r * 256 + c] = delta[(size_t)fail[r] * 256 + c];
      }
    }
  }
  out_begin_.assign(n + 1, 0);
  for (size_t s = 0; s < n; ++s) {
    out_begin_[s] = (int32_t)out_.size();
    for (int32_t o : out[s]) out_.push_back(o);
  }
  out_begin_[n] = (int32_t)out_.size();
  // Bytes whose columns are equal in every state (most bytes: they occur in no phrase)
  // share a class, so a row holds one entry per class instead of 256 and the table
  // stays in cache. Rows are an even number of entries apart, leaving bit 0 of a row
  // offset for the has-outputs flag.
  std::map<std::vector<int32_t>, uint8_t> classes;
  std::vector<int32_t> column(n);
  for (int c = 0; c < 256; ++c) {
    for (size_t s = 0; s < n; ++s) column[s] = delta[s * 256 + c];
    auto it = classes.emplace(column, (uint8_t)classes.size()).first;  // at most 256 classes
    class_[c] = it->second;
  }
  stride_ = (uint32_t)(classes.size() + (classes.size() & 1));
  delta_.assign(n * stride_, 0);
  for (size_t s = 0; s < n; ++s)
    for (int c = 0; c < 256; ++c) {
      int32_t to = delta[s * 256 + c];
      delta_[s * stride_ + class_[c]] = (uint32_t)to * stride_ | (out[to].empty() ? 0 : 1);
    }
}

__attribute__((noinline)) size_t PhraseMatcher::next_output(const unsigned char* t, size_t i, size_t n,
                                                            uint32_t& row) const {
  // A transition holds the next state's row offset (state * stride_) with bit 0 set when
  // that state has outputs, so a step is one dependent load.
  const uint32_t* delta = delta_.data();
  uint32_t r = row;
  for (; i < n; ++i) {
    uint32_t e = delta[r + class_[t[i]]];
    r = e & ~1u;
    if (e & 1) break;
  }
  row = r;
  return i;
}

void PhraseMatcher::collect_outputs(const unsigned char* t, size_t n, std::vector<Output>& outs) const {
  constexpr int R = kRuns;
  thread_local std::vector<Output> later[R];
  outs.clear();
  const uint32_t* delta = delta_.data();
  const size_t lead_max = max_len_ > 0 ? max_len_ - 1 : 0;
  // Run r reports the ends in [from[r], to[r]) and starts up to lead_max bytes before.
  size_t from[R], to[R], pos[R];
  uint32_t row[R];
  for (int r = 0; r < R; ++r) {
    from[r] = n * r / R;
    to[r] = n * (r + 1) / R;
    pos[r] = from[r] - std::min(from[r], lead_max);
    row[r] = 0;
    later[r].clear();
  }
  std::vector<Output>* sink[R];
  sink[0] = &outs;
  for (int r = 1; r < R; ++r) sink[r] = &later[r];
  // All runs step together while each has bytes left; the shortest run is the first.
  const size_t common = to[0] - pos[0];
  for (size_t k = 0; k < common; ++k) {
    uint32_t e[R], any = 0;
    for (int r = 0; r < R; ++r) {
      e[r] = delta[row[r] + class_[t[pos[r] + k]]];
      row[r] = e[r] & ~1u;
      any |= e[r];
    }
    if (any & 1)
      for (int r = 0; r < R; ++r)
        if ((e[r] & 1) && pos[r] + k >= from[r]) sink[r]->push_back({pos[r] + k, row[r]});
  }
  for (int r = 1; r < R; ++r) {
    for (size_t i = pos[r] + common; i < to[r]; ++i) {
      uint32_t e = delta[row[r] + class_[t[i]]];
      row[r] = e & ~1u;
      if ((e & 1) && i >= from[r]) sink[r]->push_back({i, row[r]});
    }
    outs.insert(outs.end(), later[r].begin(), later[r].end());
  }
}

namespace {

// ---------------------------------------------------------------- text helpers
inline bool is_han(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0x20000 && c <= 0x2FFFF);
}
inline bool is_letter(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) ||
         (c >= 0x370 && c <= 0x4FF) || is_han(c) || (c >= 0x3040 && c <= 0x30FF) || (c >= 0xAC00 && c <= 0xD7AF);
}
inline bool is_digit(uint32_t c) { return (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19); }
inline bool is_terminal_punct(uint32_t c) {
  switch (c) {
    case '.': case '!': case '?': case '"': case '\'': case 0x3002: case 0xFF01: case 0xFF1F: case 0x2026:
    case 0x201D: case 0x2019: case 0x300D: case 0x300F: case 0xFF0E: case 0xFF61:
      return true;
    default:
      return false;
  }
}
inline bool is_bullet(uint32_t c) { return c == 0x2022 || c == 0x25CF || c == 0x00B7 || c == '-' || c == '*' || c == 0x25AA; }
using filters::HashCounter;
using filters::mix64;

const PhraseMatcher& nav_matcher() {
  // Line-level navigation / footer residue: counts only on short lines.
  static const PhraseMatcher m({
      "上一篇", "下一篇", "上一页", "下一页", "上一章", "下一章", "展开全文", "展开", "收起", "更多", "查看更多",
      "点击", "返回顶部", "返回首页", "首页", "阅读全文", "阅读原文", "相关阅读", "相关文章", "分享到", "版权所有",
      "免责声明", "登录", "注册", "评论", "点赞", "收藏", "关注我们", "扫一扫", "热门推荐", "责任编辑",
      "read more", "continue reading", "share this", "share on", "next post", "previous post", "next article",
      "previous article", "back to top", "home", "menu", "skip to content", "related posts", "related articles",
      "leave a comment", "posted in", "tags:", "all rights reserved", "copyright", "privacy policy", "terms of use",
      "terms of service", "sign in", "log in", "sign up", "subscribe", "click here", "load more", "show more",
      "newsletter", "contact us", "about us", "follow us"});
  return m;
}
// Document-level residue (C4: cookie/terms notices, "javascript", "lorem ipsum").
enum DocPhrase { kLorem = 0 };
const PhraseMatcher& doc_matcher() {
  static const PhraseMatcher m({"lorem ipsum", "cookie", "cookies", "javascript", "all rights reserved",
                                "privacy policy", "terms of use", "terms of service", "enable javascript",
                                "accept all", "版权所有", "免责声明", "ICP备", "隐私政策", "用户协议", "使用条款"});
  return m;
}

// Gopher's stop words (the, be, to, of, and, that, have, with), each packed as up to 4
// lower-case bytes, as the scan keeps a word's last letters.
constexpr uint32_t pack4(const char* w) {
  uint32_t v = 0;
  for (; *w; ++w) v = v << 8 | (unsigned char)*w;
  return v;
}
inline bool is_stop_word(uint32_t packed) {
  switch (packed) {
    case pack4("the"): case pack4("be"): case pack4("to"): case pack4("of"): case pack4("and"):
    case pack4("that"): case pack4("have"): case pack4("with"):
      return true;
    default:
      return false;
  }
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}
Decision fail(const char* code, const char* what, double v, const char* op, double thr) {
  return Decision::drop(code, std::string(what) + "=" + fmt(v) + " " + op + " " + fmt(thr));
}

struct Line {
  uint64_t hash = 0;
  int chars = 0;  // non-space code points
  bool punct_end = false, bullet = false, ellipsis = false, boiler = false;
};



// ASCII byte -> its lower-case form for letters and digits (0 for anything else), plus
// 0x100 for letters.
constexpr std::array<uint16_t, 128> kWordByte = [] {
  std::array<uint16_t, 128> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = (uint16_t)c;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 32] = (uint16_t)(c | 0x100);
  return t;
}();

// What the decode pass counts besides lines and units. Counts that depend only on the
// character (digits, Han, '#', code characters) are read off the code point histogram.
struct TextStats {
  int64_t nonspace = 0, ellipses = 0, astral = 0, astral_han = 0;
  int64_t words = 0, word_chars = 0, alpha_words = 0, stop_words = 0;
};

// One pass over the text, a run of non-space characters (an English word) at a time:
// lines (hash, length, first and last characters), the n-gram units (en: words, hashed
// lower-cased over their letters and digits; zh: characters), and the histogram of BMP
// code points (hist, with the order of first appearance in touched, which fixes the
// order of the entropy sum). Few values live across the inner loop, so they stay in
// registers.
template <bool kZh>
void collect(std::string_view s, TextStats& st, std::vector<uint64_t>& unit_hash, std::vector<uint32_t>& unit_chars,
             std::vector<Line>& lines, uint32_t* hist, std::vector<uint32_t>& touched) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  // ASCII and complete 3-byte sequences decode inline, the rest through utf8_next
  // (which decides how invalid sequences decode; the inline paths agree with it).
  auto next = [&](size_t& i) -> uint32_t {
    uint32_t c = p[i];
    if (c < 0x80) {
      ++i;
      return c;
    }
    if ((c & 0xF0) == 0xE0 && i + 2 < n) {
      c = (c & 0x0F) << 12 | (uint32_t)(p[i + 1] & 0x3F) << 6 | (p[i + 2] & 0x3F);
      i += 3;
      return c;
    }
    return utf8_next(s, i);
  };
  auto is_space = [](uint32_t c) {  // is_text_space
    return c <= ' ' ? (c == ' ' || c == '\t' || c == '\r' || c == '\n') : (c == 0x3000 || c == 0xA0);
  };
  // Line state. An ellipsis is U+2026 or a '.' whose second and third predecessors in
  // the line are dots; d1 > d2 > d3 are the line indices of the last three dots (the
  // sentinel never matches), kept up to date on dots only.
  constexpr int kNoDot = -100;
  Line cur;
  uint64_t lh = kFnvBasisShort;
  uint32_t last_cp = 0;
  int d1 = kNoDot, d2 = kNoDot, d3 = kNoDot;
  auto end_line = [&] {
    const int L = cur.chars;
    cur.hash = lh;
    cur.punct_end = is_terminal_punct(last_cp);
    cur.ellipsis = last_cp == 0x2026 || (d1 == L - 1 && d2 == L - 2 && d3 == L - 3);
    lines.push_back(cur);
    cur = Line{};
    lh = kFnvBasisShort;
    last_cp = 0;
    d1 = d2 = d3 = kNoDot;
  };
  auto dot = [&](int x) {  // a '.' at line index x
    st.ellipses += (d1 == x - 2 && d2 == x - 3) || (d1 == x - 1 && d2 == x - 2 && d3 == x - 3);
    d3 = d2;
    d2 = d1;
    d1 = x;
  };
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    uint32_t c = next(j);
    i = j;
    if (is_space(c)) {
      if (c == '\n') end_line();
      continue;
    }
    if (cur.chars == 0) cur.bullet = is_bullet(c);
    // A run of non-space characters, c its first. Word state (en): wn counts hashed
    // ASCII characters (100 after a non-ASCII one) and w4 keeps the last four, enough to
    // recognize a stop word.
    uint64_t wh = kFnvBasisShort;
    uint32_t wlen = 0, wn = 0, w4 = 0, walpha = 0;
    bool newline = false;
    for (;;) {
      lh = (lh ^ c) * kFnvPrime;
      last_cp = c;
      if (c < 0x80) {
        if (hist[c]++ == 0) touched.push_back(c);
        if (c == '.') dot(cur.chars + (int)wlen);
        if constexpr (kZh) {
          unit_hash.push_back(c * 0x9E3779B97F4A7C15ULL + 7);
        } else {
          // Words are hashed lower-cased over their letters and digits, as Gopher
          // compares them (no branch: punctuation inside words is unpredictable).
          const uint32_t v = kWordByte[c], lc = v & 0xFF;
          const bool w = lc != 0;
          wh = w ? (wh ^ lc) * kFnvPrime : wh;
          w4 = w ? w4 << 8 | lc : w4;
          wn += w;
          walpha |= v >> 8;
        }
      } else {
        if (c < 0x10000) {
          if (hist[c]++ == 0) touched.push_back(c);
        } else {
          ++st.astral;
          st.astral_han += c >= 0x20000 && c <= 0x2FFFF;  // is_han's (and is_letter's) astral block
        }
        st.ellipses += c == 0x2026;
        if constexpr (kZh) {
          // Chinese: each character is a unit (no segmentation on the hot path).
          unit_hash.push_back(c * 0x9E3779B97F4A7C15ULL + 7);
        } else {
          wh = (wh ^ c) * kFnvPrime;
          wn = 100;
          walpha |= is_letter(c);
        }
      }
      ++wlen;
      if (i >= n) break;
      c = next(j);
      i = j;
      if (is_space(c)) {
        newline = c == '\n';
        break;
      }
    }
    cur.chars += (int)wlen;
    st.nonspace += wlen;
    if constexpr (!kZh) {
      ++st.words;
      st.word_chars += wlen;
      st.alpha_words += walpha;
      if (wn >= 1 && wn <= 4 && is_stop_word(w4)) ++st.stop_words;
      unit_hash.push_back(wh);
      unit_chars.push_back(wlen);
    }
    if (newline) end_line();
  }
  if (cur.chars > 0 || lines.empty()) end_line();
}
}  // namespace

QualityConfig QualityConfig::from_json(const nlohmann::json& j) {
  QualityConfig c;
#define Q(k) c.k = get_or(j, #k, c.k)
  Q(enabled); Q(min_words); Q(max_words); Q(min_chars_zh); Q(max_chars_zh); Q(min_mean_word_len);
  Q(max_mean_word_len); Q(max_symbol_ratio); Q(max_digit_ratio); Q(min_alpha_words); Q(min_stop_words);
  Q(min_cjk_ratio); Q(min_punct_lines); Q(punct_lines_min_lines); Q(max_short_lines); Q(short_line_chars);
  Q(short_line_chars_zh); Q(max_bullet_lines); Q(max_ellipsis_lines); Q(max_dup_lines); Q(max_dup_line_chars);
  Q(max_dup_paras); Q(max_dup_para_chars); Q(min_char_entropy); Q(max_boilerplate); Q(min_boilerplate_lines);
  Q(boilerplate_line_chars); Q(max_boilerplate_phrases); Q(max_code_ratio); Q(min_code_braces); Q(boilerplate_lines_drop);
#undef Q
  if (j.is_object() && j.contains("max_top_ngram")) {
    auto v = j["max_top_ngram"].get<std::vector<double>>();
    for (size_t k = 0; k < 3 && k < v.size(); ++k) c.max_top_ngram[k] = v[k];
  }
  if (j.is_object() && j.contains("max_dup_ngram")) {
    auto v = j["max_dup_ngram"].get<std::vector<double>>();
    for (size_t k = 0; k < 6 && k < v.size(); ++k) c.max_dup_ngram[k] = v[k];
  }
  return c;
}

Decision check_quality(Document& doc, const QualityConfig& cfg) {
  if (!cfg.enabled) return Decision::ok();
  const std::string_view s = doc.text;
  const bool zh = doc.lang == Lang::Zh;

  thread_local std::vector<uint64_t> unit_hash;  // words (en) or characters (zh)
  thread_local std::vector<uint32_t> unit_chars;  // per word (en); every Chinese unit is 1
  thread_local std::vector<Line> lines;
  thread_local std::vector<uint32_t> hist_touched;
  thread_local std::vector<uint32_t> hist;  // code point histogram for the BMP
  thread_local HashCounter table;
  unit_hash.clear();
  unit_chars.clear();
  lines.clear();
  if (hist.empty()) hist.assign(0x10000, 0);

  TextStats st;
  if (zh) {
    unit_hash.reserve(s.size());
    collect<true>(s, st, unit_hash, unit_chars, lines, hist.data(), hist_touched);
  } else {
    collect<false>(s, st, unit_hash, unit_chars, lines, hist.data(), hist_touched);
  }
  const int64_t nonspace = st.nonspace, ellipses = st.ellipses, astral = st.astral;
  int64_t words = st.words, word_chars = st.word_chars, alpha_words = st.alpha_words;
  const int64_t stop_words = st.stop_words;

  // Character entropy (bits per code point) over non-space characters, and the counts
  // that depend only on the character.
  int64_t digits = 0, han = st.astral_han, letters = st.astral_han;
  const int64_t hashes = hist['#'], braces = hist['{'] + hist['}'], code_chars = braces + hist[';'] + hist['='];
  double entropy = 0;
  {
    // log2(p) depends only on the count, and most characters share a few small counts.
    // The histogram is cleared on the way (hist_touched is empty when nonspace is 0).
    double memo_p[64], memo_lp[64];
    uint64_t have = 0;
    for (uint32_t c : hist_touched) {
      const uint32_t h = hist[c];
      hist[c] = 0;
      double p, lp;
      if (h < 64 && (have >> h & 1)) {
        p = memo_p[h];
        lp = memo_lp[h];
      } else {
        p = (double)h / nonspace;
        lp = std::log2(p);
        if (h < 64) { memo_p[h] = p; memo_lp[h] = lp; have |= 1ULL << h; }
      }
      entropy -= p * lp;
      digits += is_digit(c) ? h : 0;
      han += is_han(c) ? h : 0;
      letters += is_letter(c) ? h : 0;
    }
    if (nonspace > 0 && astral) { double p = (double)astral / nonspace; entropy -= p * std::log2(p); }
  }
  hist_touched.clear();
  if (zh) {
    words = word_chars = nonspace;
    alpha_words = letters;
  }

  const double len_value = zh ? (double)nonspace : (double)words;
  doc.scores.emplace_back(zh ? "quality.chars" : "quality.words", len_value);
  doc.scores.emplace_back("quality.entropy", entropy);

  // Length.
  if (zh) {
    if (nonspace < cfg.min_chars_zh) return fail("quality.too_short", "chars", nonspace, "<", cfg.min_chars_zh);
    if (nonspace > cfg.max_chars_zh) return fail("quality.too_long", "chars", nonspace, ">", cfg.max_chars_zh);
    double cjk = (double)han / nonspace;
    if (cjk < cfg.min_cjk_ratio) return fail("quality.cjk_ratio", "han_ratio", cjk, "<", cfg.min_cjk_ratio);
  } else {
    if (words < cfg.min_words) return fail("quality.too_short", "words", words, "<", cfg.min_words);
    if (words > cfg.max_words) return fail("quality.too_long", "words", words, ">", cfg.max_words);
    double mwl = (double)word_chars / words;
    if (mwl < cfg.min_mean_word_len) return fail("quality.mean_word_len", "mean_word_len", mwl, "<", cfg.min_mean_word_len);
    if (mwl > cfg.max_mean_word_len) return fail("quality.mean_word_len", "mean_word_len", mwl, ">", cfg.max_mean_word_len);
    double aw = (double)alpha_words / words;
    if (aw < cfg.min_alpha_words) return fail("quality.alpha_words", "alpha_words", aw, "<", cfg.min_alpha_words);
    if (doc.lang == Lang::En && stop_words < cfg.min_stop_words)
      return fail("quality.stop_words", "stop_words", stop_words, "<", cfg.min_stop_words);
  }
  const double unit_count = zh ? (double)nonspace : (double)words;
  double sym = (hashes + ellipses) / std::max(1.0, unit_count);
  if (sym > cfg.max_symbol_ratio) return fail("quality.symbol_ratio", "symbol_ratio", sym, ">", cfg.max_symbol_ratio);
  double dig = (double)digits / std::max<int64_t>(1, nonspace);
  if (dig > cfg.max_digit_ratio) return fail("quality.digit_ratio", "digit_ratio", dig, ">", cfg.max_digit_ratio);

  // Boilerplate residue: lorem ipsum drops at once (C4); cookie/terms/javascript
  // notices count per distinct phrase; navigation phrases count on short lines only.
  {
    uint64_t doc_hits = 0;
    bool lorem = false;
    doc_matcher().scan(s, [&](size_t p, size_t) {
      if (p == kLorem) lorem = true;
      doc_hits |= 1ULL << p;
    });
    if (lorem) return Decision::drop("quality.lorem_ipsum", "contains \"lorem ipsum\"");
    int distinct = __builtin_popcountll(doc_hits);
    doc.scores.emplace_back("quality.boilerplate_phrases", distinct);
    if (distinct > cfg.max_boilerplate_phrases)
      return fail("quality.boilerplate", "boilerplate_phrases", distinct, ">", cfg.max_boilerplate_phrases);
    // Navigation phrases matter only on short lines, so only those are scanned. A hit
    // belongs to the line of its first byte, counting '\n' bytes (phrases hold no '\n',
    // and the automaton is back at its root after one, so scanning a line alone finds
    // the same hits as scanning the whole text).
    const PhraseMatcher& nav = nav_matcher();
    for (size_t b = 0, k = 0; b <= s.size() && k < lines.size(); ++k) {
      size_t e = s.find('\n', b);
      if (e == std::string_view::npos) e = s.size();
      if (lines[k].chars <= cfg.boilerplate_line_chars)
        nav.scan(s.substr(b, e - b), [&](size_t, size_t) { lines[k].boiler = true; });
      b = e + 1;
    }
  }
  int64_t nlines = 0, punct = 0, short_l = 0, bullets = 0, ellipsis_l = 0, boiler = 0, total_line_chars = 0;
  const int short_thr = zh ? cfg.short_line_chars_zh : cfg.short_line_chars;
  for (const Line& l : lines) {
    if (!l.chars) continue;
    ++nlines;
    punct += l.punct_end;
    short_l += l.chars < short_thr;
    bullets += l.bullet;
    ellipsis_l += l.ellipsis;
    boiler += l.boiler;
    total_line_chars += l.chars;
  }
  // Duplicated lines and paragraphs (Gopher), by count and by characters.
  {
    table.reset(lines.size());
    int64_t dup = 0, dup_chars = 0;
    for (const Line& l : lines) {
      // One-character lines (a table rule, a lone bullet) carry no content to repeat.
      if (l.chars < 2) continue;
      if (table.slot(l.hash)++ > 0) { ++dup; dup_chars += l.chars; }
    }
    double dl = nlines ? (double)dup / nlines : 0, dc = total_line_chars ? (double)dup_chars / total_line_chars : 0;
    doc.scores.emplace_back("quality.dup_lines", dl);
    if (dl > cfg.max_dup_lines) return fail("quality.dup_lines", "dup_lines", dl, ">", cfg.max_dup_lines);
    if (dc > cfg.max_dup_line_chars) return fail("quality.dup_lines", "dup_line_chars", dc, ">", cfg.max_dup_line_chars);
    // Paragraphs: runs of non-empty lines separated by empty lines.
    table.reset(lines.size());
    int64_t paras = 0, dparas = 0, dpchars = 0;
    uint64_t ph = 0;
    int pchars = 0;
    auto end_para = [&] {
      if (!pchars) return;
      ++paras;
      if (table.slot(ph)++ > 0) { ++dparas; dpchars += pchars; }
      ph = 0;
      pchars = 0;
    };
    for (const Line& l : lines) {
      if (!l.chars) { end_para(); continue; }
      ph = mix64(ph ^ l.hash) + 0x9E37;
      pchars += l.chars;
    }
    end_para();
    if (paras > 1) {
      double dp = (double)dparas / paras, dpc = (double)dpchars / std::max<int64_t>(1, total_line_chars);
      if (dp > cfg.max_dup_paras) return fail("quality.dup_paras", "dup_paras", dp, ">", cfg.max_dup_paras);
      if (dpc > cfg.max_dup_para_chars) return fail("quality.dup_paras", "dup_para_chars", dpc, ">", cfg.max_dup_para_chars);
    }
  }

  if (nlines > 0) {
    double b = (double)boiler / nlines;
    if (boiler >= cfg.min_boilerplate_lines && (b > cfg.max_boilerplate || boiler >= cfg.boilerplate_lines_drop))
      return fail("quality.boilerplate", "boilerplate_lines", b, ">", cfg.max_boilerplate);
    // Code residue: braces (C4 drops any page with '{'; we need a few, with ; and = around).
    double code = (double)code_chars / std::max<int64_t>(1, nonspace);
    if (braces >= cfg.min_code_braces && code > cfg.max_code_ratio)
      return fail("quality.code", "code_char_ratio", code, ">", cfg.max_code_ratio);
    double bl = (double)bullets / nlines;
    if (bl > cfg.max_bullet_lines) return fail("quality.bullet_lines", "bullet_lines", bl, ">", cfg.max_bullet_lines);
    double el = (double)ellipsis_l / nlines;
    if (el > cfg.max_ellipsis_lines) return fail("quality.ellipsis_lines", "ellipsis_lines", el, ">", cfg.max_ellipsis_lines);
    double pl = (double)punct / nlines;
    doc.scores.emplace_back("quality.punct_lines", pl);
    if (nlines >= cfg.punct_lines_min_lines && pl < cfg.min_punct_lines)
      return fail("quality.punct_lines", "punct_lines", pl, "<", cfg.min_punct_lines);
    double sl = (double)short_l / nlines;
    if (nlines >= cfg.punct_lines_min_lines && sl > cfg.max_short_lines)
      return fail("quality.short_lines", "short_lines", sl, ">", cfg.max_short_lines);
  }

  // Gopher n-gram rules over units (words; characters with n doubled for Chinese). An
  // n-gram's hash is the polynomial hash of its units (the values a rolling hash gives).
  // Only n-grams that occur twice can matter, and an n-gram can occur twice only where
  // its (n-1)-unit prefix does, so the rules work on a list of candidate positions that
  // shrinks with n: first the positions whose shortest n-gram falls in a sketch cell
  // counted twice, then those whose last counted n-gram repeated.
  const size_t W = unit_hash.size();
  const int scale = zh ? 2 : 1;
  if (W > 0 && word_chars > 0) {
    thread_local std::vector<uint32_t> pre;   // prefix sums of unit_chars (en)
    thread_local std::vector<uint32_t> cpos;  // candidate positions, increasing
    thread_local std::vector<uint64_t> chash;  // hash of the `level` units from each
    thread_local std::vector<uint8_t> rep;
    thread_local filters::CountSketch sketch;
    const uint64_t B = 0x100000001B3ULL;
    const uint64_t* uh = unit_hash.data();
    if (!zh) {
      pre.resize(W + 1);
      pre[0] = 0;
      for (size_t k = 0; k < W; ++k) pre[k + 1] = pre[k] + unit_chars[k];
    }
    auto chars = [&](size_t k, size_t n) -> uint32_t { return zh ? (uint32_t)n : pre[k + n] - pre[k]; };
    cpos.clear();
    chash.clear();
    size_t level = (size_t)2 * scale;
    if (level <= W) {
      const size_t m = W - level + 1;
      cpos.resize(m);
      chash.resize(m);
      sketch.reset(m, 8);
      for (size_t k = 0; k < m; ++k) {
        uint64_t h = 0;
        for (size_t l = 0; l < level; ++l) h = h * B + uh[k + l];
        chash[k] = h;
        sketch.add(h);
      }
      size_t q = 0;
      for (size_t k = 0; k < m; ++k) {
        cpos[q] = (uint32_t)k;
        chash[q] = chash[k];
        q += sketch.at_least(chash[k]) >= 2;
      }
      cpos.resize(q);
      chash.resize(q);
    }
    // Extends the candidates' hashes to n units, dropping positions past W - n.
    auto raise = [&](size_t n) {
      size_t m = cpos.size();
      while (m > 0 && cpos[m - 1] + n > W) --m;
      cpos.resize(m);
      chash.resize(m);
      for (size_t x = 0; x < m; ++x) {
        uint64_t h = chash[x];
        for (size_t l = level; l < n; ++l) h = h * B + uh[cpos[x] + l];
        chash[x] = h;
      }
      level = n;
    };
    const double total = (double)word_chars;
    for (int t = 0; t < 3; ++t) {
      size_t n = (size_t)(t + 2) * scale;
      if (n > W) break;
      raise(n);
      const size_t m = cpos.size();
      table.reset(m);
      rep.assign(m, 0);
      uint32_t best = 0;
      size_t best_at = 0;
      for (size_t x = 0; x < m; ++x) {
        HashCounter::Entry& e = table.at(chash[x]);
        uint32_t c = ++e.count;
        if (c == 1) e.aux = (uint32_t)x;
        // Marks this occurrence and the first one once the n-gram repeats.
        rep[x] = c > 1;
        rep[e.aux] |= c > 1;
        if (c > best) { best = c; best_at = cpos[x]; }
      }
      size_t q = 0;
      for (size_t x = 0; x < m; ++x) {
        cpos[q] = cpos[x];
        chash[q] = chash[x];
        q += rep[x];
      }
      cpos.resize(q);
      chash.resize(q);
      if (best < 2) continue;
      double len = chars(best_at, n);
      double frac = std::min(1.0, best * len / total);
      if (frac > cfg.max_top_ngram[t]) {
        std::string what = "top_" + std::to_string(n) + "gram_char_frac";
        return fail("quality.top_ngram", what.c_str(), frac, ">", cfg.max_top_ngram[t]);
      }
    }
    for (int t = 0; t < 6; ++t) {
      // As Gopher counts it: scanning left to right, an n-gram seen before marks its
      // characters as duplicated and the scan jumps past it; first occurrences do not
      // count. An n-gram that occurs once is never seen before and never seen again, so
      // the scan visits the candidates only.
      size_t n = (size_t)(t + 5) * scale;
      if (n > W) break;
      raise(n);
      table.reset(cpos.size());
      double covered = 0;
      size_t next = 0;
      for (size_t x = 0; x < cpos.size(); ++x) {
        size_t k = cpos[x];
        if (k < next) continue;
        uint32_t& c = table.slot(chash[x]);
        if (c) {
          covered += chars(k, n);
          next = k + n;
        } else {
          c = 1;
        }
      }
      double frac = covered / total;
      if (t == 0) doc.scores.emplace_back("quality.dup_ngrams", frac);
      if (frac > cfg.max_dup_ngram[t]) {
        std::string what = "dup_" + std::to_string(n) + "gram_char_frac";
        return fail("quality.dup_ngrams", what.c_str(), frac, ">", cfg.max_dup_ngram[t]);
      }
      // Every word of a later occurrence of a repeated longer n-gram is also counted by
      // this scan, so the longer fractions are at most this one: stop when it is below
      // every remaining threshold.
      double rest = 1;
      for (int u = t + 1; u < 6; ++u) rest = std::min(rest, cfg.max_dup_ngram[u]);
      if (frac <= rest) break;
    }
  }
  if (entropy < cfg.min_char_entropy) return fail("quality.entropy", "char_entropy_bits", entropy, "<", cfg.min_char_entropy);
  return Decision::ok();
}

}  // namespace veritas
