#include "veritas/data/synth.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/data/text_sources.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/text.hpp"

namespace veritas {
namespace {

using json = nlohmann::json;

std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> w;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\n') ++j;
    if (j > i) w.push_back(s.substr(i, j - i));
    i = j;
  }
  return w;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string o;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) o += sep;
    o += v[i];
  }
  return o;
}

// UTF-8 code points of s.
std::vector<std::string> chars(const std::string& s) {
  std::vector<std::string> c;
  for (size_t i = 0; i < s.size();) {
    unsigned char b = s[i];
    size_t len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    c.push_back(s.substr(i, len));
    i += len;
  }
  return c;
}

bool is_han_char(const std::string& c) {
  if (c.size() != 3) return false;
  unsigned cp = ((c[0] & 0x0F) << 12) | ((c[1] & 0x3F) << 6) | (c[2] & 0x3F);
  return cp >= 0x4E00 && cp <= 0x9FFF;
}

struct Sources {
  std::vector<std::string> verses;   // KJV, one verse each, in book order
  std::vector<std::string> glosses;  // WordNet definitions
  std::vector<std::string> zh;       // Chinese passages
  std::vector<std::string> zh_sentences;  // the passages cut after 。！？
  std::vector<std::pair<std::string, std::vector<std::string>>> other;  // language -> messages
  std::unordered_map<std::string, std::vector<std::string>> synonyms;   // English spinner lexicon
  std::unordered_map<std::string, std::string> zh_pos;                  // word -> POS
  std::unordered_map<std::string, std::vector<std::string>> zh_by_pos;  // POS -> frequent words
  size_t zh_max_len = 4;
};

void load_bible(const SynthOptions& opt, Sources& s) {
  std::string cur;
  bool prev_blank = true;
  sources::for_each_line(sources::kjv_text(opt.bible), [&](std::string_view text) {
    std::string line(text);
    while (!line.empty() && line.back() == '\r') line.pop_back();
    bool blank = line.empty();
    bool heading = !blank && line[0] != ' ' && prev_blank;
    prev_blank = blank;
    if (blank) return;
    if (heading) {  // "Genesis 1": a chapter heading, after a blank line
      if (!cur.empty()) s.verses.push_back(cur);
      cur.clear();
      return;
    }
    size_t i = line.find_first_not_of(' ');
    size_t j = i;
    while (j < line.size() && std::isdigit((unsigned char)line[j])) ++j;
    if (j > i && j < line.size() && line[j] == ' ' && i == 2) {  // "  12 text": a new verse
      if (!cur.empty()) s.verses.push_back(cur);
      cur = line.substr(j + 1);
    } else {
      cur += " " + line.substr(i);
    }
  });
  if (!cur.empty()) s.verses.push_back(cur);
  check(s.verses.size() > 1000, "synth: '" + opt.bible + "' gave no text: install the Debian package bible-kjv");
}

void load_wordnet(const SynthOptions& opt, Sources& s) {
  std::unordered_map<std::string, std::unordered_set<std::string>> syn;
  for (const char* pos : {"noun", "verb", "adj", "adv"}) {
    std::string path = opt.wordnet_dir + "/data." + pos;
    check(fs::exists(path), "synth: " + path + " not found: install the Debian package wordnet-base");

    std::FILE* f = std::fopen(path.c_str(), "rb");
    check(f != nullptr, "synth: cannot open " + path);
    std::string line;
    char buf[1 << 14];
    while (std::fgets(buf, sizeof buf, f)) {
      line = buf;
      if (line.empty() || line[0] == ' ') continue;  // license header
      // offset lex_filenum ss_type w_cnt(hex) word lex_id ... | gloss
      size_t bar = line.find(" | ");
      std::string head = line.substr(0, bar);
      auto toks = split_ws(head);
      if (toks.size() < 5) continue;
      int wcnt = (int)std::strtol(toks[3].c_str(), nullptr, 16);
      std::vector<std::string> words;
      for (int k = 0; k < wcnt && 4 + 2 * k < (int)toks.size(); ++k) {
        std::string w = toks[4 + 2 * k];
        auto paren = w.find('(');
        if (paren != std::string::npos) w.resize(paren);
        bool simple = !w.empty() && std::all_of(w.begin(), w.end(), [](char c) { return std::islower((unsigned char)c); });
        if (simple) words.push_back(w);
      }
      for (auto& a : words)
        for (auto& b : words)
          if (a != b) syn[a].insert(b);
      if (bar != std::string::npos) {
        std::string gloss = line.substr(bar + 3);
        while (!gloss.empty() && (gloss.back() == '\n' || gloss.back() == ' ')) gloss.pop_back();
        auto semi = gloss.find("; \"");
        if (semi != std::string::npos) gloss.resize(semi);  // definition only, not the examples
        if (split_ws(gloss).size() >= 6) s.glosses.push_back(gloss);
      }
    }
    std::fclose(f);
  }
  for (auto& [w, set] : syn) s.synonyms[w] = std::vector<std::string>(set.begin(), set.end());
  for (auto& [w, v] : s.synonyms) std::sort(v.begin(), v.end());  // deterministic choice
}

void load_fortunes(const SynthOptions& opt, Sources& s) {
  for (const char* name : {"chinese.u8", "tang300.u8", "song100.u8"}) {
    std::string path = opt.fortunes_dir + "/" + name;
    check(fs::exists(path), "synth: " + path + " not found: install the Debian package fortunes-zh");
    std::string text = sources::strip_ansi(read_file(path));
    for (const std::string& entry : sources::fortune_records(text)) {
      // Join hard-wrapped lines (the text is wrapped at a fixed width) and drop the
      // attribution line ("-- Debian ...").
      std::string joined;
      for (auto& ln : [&] {
             std::vector<std::string> v;
             size_t a = 0;
             while (a <= entry.size()) {
               size_t b = entry.find('\n', a);
               if (b == std::string::npos) b = entry.size();
               v.push_back(entry.substr(a, b - a));
               a = b + 1;
             }
             return v;
           }()) {
        size_t f = ln.find_first_not_of(" \t");
        if (f == std::string::npos) {
          if (!joined.empty() && joined.back() != '\n') joined += '\n';
          continue;
        }
        std::string t = ln.substr(f);
        if (t.rfind("--", 0) == 0 || t.rfind("——", 0) == 0) continue;
        joined += t;
      }
      auto cs = chars(joined);
      size_t han = 0;
      for (auto& c : cs) han += is_han_char(c);
      if (cs.size() >= 30 && han >= 0.6 * cs.size()) s.zh.push_back(joined);
    }
  }
  check(s.zh.size() > 200, "synth: too little Chinese text in " + opt.fortunes_dir);
  for (auto& p : s.zh) {
    size_t a = 0;
    for (;;) {
      size_t best = std::string::npos;
      for (const char* end : {"。", "！", "？"}) best = std::min(best, p.find(end, a));
      if (best == std::string::npos) break;
      std::string sent = p.substr(a, best + 3 - a);
      size_t nl;
      while ((nl = sent.find('\n')) != std::string::npos) sent.erase(nl, 1);
      if (chars(sent).size() >= 8) s.zh_sentences.push_back(sent);
      a = best + 3;
    }
  }
}

void load_jieba(const SynthOptions& opt, Sources& s) {
  std::FILE* f = std::fopen(opt.jieba_dict.c_str(), "rb");
  check(f != nullptr, "synth: " + opt.jieba_dict + " not found: install the Debian package python3-jieba");
  char buf[512];
  while (std::fgets(buf, sizeof buf, f)) {
    char w[256], pos[32];
    long freq;
    if (std::sscanf(buf, "%255s %ld %31s", w, &freq, pos) != 3) continue;
    std::string word(w);
    auto cs = chars(word);
    if (cs.size() < 2 || cs.size() > 4) continue;
    bool all_han = std::all_of(cs.begin(), cs.end(), is_han_char);
    if (!all_han) continue;
    s.zh_pos[word] = pos;
    if (freq >= 200 && cs.size() == 2) s.zh_by_pos[pos].push_back(word);
  }
  std::fclose(f);
}

// Message translations from a gettext .mo file.
std::vector<std::string> read_mo(const std::string& path) {
  std::vector<std::string> out;
  if (!fs::exists(path)) return out;
  std::string d = read_file(path);
  auto u32 = [&](size_t off) -> uint32_t {
    if (off + 4 > d.size()) return 0;
    uint32_t v;
    std::memcpy(&v, d.data() + off, 4);
    return v;
  };
  if (u32(0) != 0x950412de) return out;
  uint32_t n = u32(8), toff = u32(16);
  for (uint32_t i = 1; i < n; ++i) {  // entry 0 is the header
    uint32_t len = u32(toff + 8 * i), off = u32(toff + 8 * i + 4);
    if ((size_t)off + len > d.size()) break;
    std::string m = d.substr(off, len);
    m = m.substr(0, m.find('\0'));
    if (!is_valid_utf8(m)) continue;
    // Drop format directives and option lists: keep prose-like messages.
    if (m.find('%') != std::string::npos || m.find("--") != std::string::npos || m.size() < 30) continue;
    for (auto& c : m)
      if (c == '\n' || c == '\t') c = ' ';
    out.push_back(m);
  }
  return out;
}

struct Gen {
  const SynthOptions& opt;
  Sources src;
  Rng rng;
  size_t verse_cursor = 0, zh_cursor = 0;
  std::vector<size_t> zh_order;
  struct Orig { std::string id, text; bool zh; };
  std::vector<Orig> originals;  // clean documents that duplicates copy (bounded)

  explicit Gen(const SynthOptions& o) : opt(o), rng(o.seed) {}

  template <class T>
  const T& pick(const std::vector<T>& v) { return v[rng.below(v.size())]; }

  std::string en_text(int min_words) {
    std::string text;
    int words = 0;
    int target = (int)rng.range(min_words, min_words * 3);
    if (rng.uniform() < 0.7) {
      // Consecutive verses (disjoint chunks while the book lasts, then random verses).
      std::vector<std::string> para;
      while (words < target) {
        std::string v = verse_cursor < src.verses.size() ? src.verses[verse_cursor++] : pick(src.verses);
        words += (int)split_ws(v).size();
        para.push_back(v);
        if (para.size() >= 4 || words >= target) {
          if (!text.empty()) text += "\n\n";
          text += join(para, " ");
          para.clear();
        }
      }
    } else {
      std::vector<std::string> para;
      while (words < target) {
        std::string g = pick(src.glosses);
        g[0] = (char)std::toupper((unsigned char)g[0]);
        g += ".";
        words += (int)split_ws(g).size();
        para.push_back(g);
        if (para.size() >= 5 || words >= target) {
          if (!text.empty()) text += "\n\n";
          text += join(para, " ");
          para.clear();
        }
      }
    }
    return text;
  }

  std::string zh_text(int min_chars) {
    std::string text;
    size_t n = 0;
    int target = (int)rng.range(min_chars, min_chars * 3);
    while ((int)n < target) {
      // Whole passages while they last; then random sentences, so that two documents
      // never share a long passage (that would make them true near duplicates).
      std::string p;
      if (zh_cursor < zh_order.size()) {
        p = src.zh[zh_order[zh_cursor++]];
      } else {
        for (int k = 0; k < 4; ++k) p += pick(src.zh_sentences);
      }
      if (!text.empty()) text += "\n\n";
      text += p;
      n += chars(p).size();
    }
    return text;
  }

  std::string other_text() {
    auto& [lang, msgs] = src.other[rng.below(src.other.size())];
    std::vector<std::string> v;
    int n = (int)rng.range(8, 20);
    for (int i = 0; i < n; ++i) v.push_back(pick(msgs));
    return join(v, " ");
  }

  std::string title_of(const std::string& text, bool zh) {
    if (zh) {
      auto cs = chars(text);
      std::string t;
      for (size_t i = 0; i < cs.size() && i < 12; ++i)
        if (cs[i] != "\n") t += cs[i];
      return t;
    }
    auto w = split_ws(text);
    w.resize(std::min<size_t>(w.size(), 6));
    return join(w, " ");
  }

  // English spinner: WordNet synonyms of any sense ("counterfeit consciousness").
  std::string spin_en(const std::string& text, double rate) {
    std::string out;
    size_t i = 0;
    while (i < text.size()) {
      if (!std::isalpha((unsigned char)text[i])) { out += text[i++]; continue; }
      size_t j = i;
      while (j < text.size() && std::isalpha((unsigned char)text[j])) ++j;
      std::string w = text.substr(i, j - i), lw = w;
      for (auto& c : lw) c = (char)std::tolower((unsigned char)c);
      auto it = src.synonyms.find(lw);
      if (lw.size() > 3 && it != src.synonyms.end() && rng.uniform() < rate) {
        std::string r = it->second[rng.below(it->second.size())];
        if (std::isupper((unsigned char)w[0])) r[0] = (char)std::toupper((unsigned char)r[0]);
        out += r;
      } else {
        out += w;
      }
      i = j;
    }
    return out;
  }

  // Chinese spinner (伪原创): forward maximum matching against the jieba dictionary,
  // then words replaced by frequent words of the same part of speech.
  std::string spin_zh(const std::string& text, double rate) {
    auto cs = chars(text);
    std::string out;
    for (size_t i = 0; i < cs.size();) {
      size_t best = 0;
      std::string bw;
      for (size_t len = std::min(src.zh_max_len, cs.size() - i); len >= 2; --len) {
        std::string w;
        for (size_t k = 0; k < len; ++k) w += cs[i + k];
        if (src.zh_pos.count(w)) { best = len; bw = w; break; }
      }
      if (best == 0) { out += cs[i++]; continue; }
      auto& same = src.zh_by_pos[src.zh_pos[bw]];
      if (!same.empty() && rng.uniform() < rate) out += same[rng.below(same.size())];
      else out += bw;
      i += best;
    }
    return out;
  }

  std::string public_ipv4() {
    for (;;) {
      int a = (int)rng.range(1, 223), b = (int)rng.range(0, 255);
      if (a == 10 || a == 127 || (a == 172 && b >= 16 && b <= 31) || (a == 192 && b == 168) || (a == 169 && b == 254) ||
          a == 100 || a == 0 || (a == 192 && b == 0) || (a == 198 && (b == 18 || b == 19 || b == 51)) || (a == 203 && b == 0))
        continue;
      return std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(rng.range(0, 255)) + "." +
             std::to_string(rng.range(1, 254));
    }
  }
  std::string card() {
    std::string d = rng.uniform() < 0.5 ? "4" : "5" + std::to_string(rng.range(1, 5));
    while (d.size() < 15) d += (char)('0' + rng.below(10));
    int sum = 0;  // Luhn check digit over the 15 digits
    for (int k = 0; k < 15; ++k) {
      int v = d[14 - k] - '0';
      if (k % 2 == 0) { v *= 2; if (v > 9) v -= 9; }
      sum += v;
    }
    d += (char)('0' + (10 - sum % 10) % 10);
    if (rng.uniform() < 0.5) return d.substr(0, 4) + " " + d.substr(4, 4) + " " + d.substr(8, 4) + " " + d.substr(12, 4);
    return d;
  }
  std::string cn_id() {
    static const int area[] = {110101, 310104, 440305, 510107, 330106, 420111};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%06d%04d%02d%02d%03d", area[rng.below(6)], (int)rng.range(1950, 2005),
                  (int)rng.range(1, 12), (int)rng.range(1, 28), (int)rng.range(0, 999));
    std::string id = buf;
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char chk[] = "10X98765432";
    int s = 0;
    for (int k = 0; k < 17; ++k) s += (id[k] - '0') * w[k];
    return id + chk[s % 11];
  }
  std::string pii_item(bool zh) {
    static const char* names[] = {"li.wei", "john.smith", "maria.garcia", "zhang_min", "a.nguyen", "k.tanaka"};
    static const char* domains[] = {"example.com", "mail.example.org", "163.com", "qq.com", "gmail.com"};
    switch (rng.below(6)) {
      case 0: return std::string(names[rng.below(6)]) + std::to_string(rng.range(1, 99)) + "@" + domains[rng.below(5)];
      case 1: {
        std::string m = "1" + std::to_string(rng.range(3, 9));
        for (int k = 0; k < 9; ++k) m += (char)('0' + rng.below(10));
        return m;
      }
      case 2: {
        char buf[40];
        std::snprintf(buf, sizeof buf, "+1 %03d %03d %04d", (int)rng.range(201, 989), (int)rng.range(200, 999),
                      (int)rng.range(0, 9999));
        return zh ? "+86 " + std::string("1") + std::to_string(rng.range(3, 9)) + std::to_string(rng.range(100000000, 999999999)).substr(0, 9) : std::string(buf);
      }
      case 3: return rng.uniform() < 0.7 ? public_ipv4() : "2001:" + std::to_string(rng.range(4000, 4999)) + ":" + std::to_string(rng.range(1000, 9999)) + "::" + std::to_string(rng.range(1, 9999));
      case 4: return card();
      default: return cn_id();
    }
  }
  std::string insert_pii(const std::string& text, bool zh, int count) {
    std::vector<std::string> paras;
    size_t a = 0;
    while (a <= text.size()) {
      size_t b = text.find("\n\n", a);
      if (b == std::string::npos) b = text.size();
      paras.push_back(text.substr(a, b - a));
      a = b + 2;
    }
    static const char* en_frames[] = {"Contact me at %s for details.", "You can reach the office at %s.",
                                      "Reference: %s.", "Write to %s if you have questions."};
    static const char* zh_frames[] = {"联系方式：%s。", "如有疑问请联系 %s。", "登记信息：%s。", "我的账号是 %s。"};
    for (int k = 0; k < count; ++k) {
      std::string item = pii_item(zh);
      const char* f = zh ? zh_frames[rng.below(4)] : en_frames[rng.below(4)];
      char buf[256];
      std::snprintf(buf, sizeof buf, f, item.c_str());
      auto& p = paras[rng.below(paras.size())];
      p += (zh ? "" : " ") + std::string(buf);
    }
    return join(paras, "\n\n");
  }

  std::string spam(bool zh) {
    static const char* en_kw[] = {"cheap replica watches", "best weight loss pills", "free casino bonus",
                                  "buy followers fast", "discount designer handbags"};
    static const char* zh_kw[] = {"减肥茶官方正品", "高仿名表批发", "网赚兼职日结", "代购正品包包"};
    std::string kw = zh ? zh_kw[rng.below(4)] : en_kw[rng.below(5)];
    std::string base = zh ? zh_text(150) : en_text(80);
    int style = (int)rng.below(3);
    std::string out;
    if (style == 0) {
      // Keyword stuffing: the keyword spliced into the text every few words, mid-sentence.
      if (zh) {
        auto cs = chars(base);
        for (size_t i = 0; i < cs.size(); ++i) {
          out += cs[i];
          if (i % 25 == 24) out += kw;
        }
      } else {
        auto w = split_ws(base);
        for (size_t i = 0; i < w.size(); ++i) {
          out += (i ? " " : "") + w[i];
          if (i % 8 == 7) out += " " + kw;
        }
      }
    } else if (style == 1) {
      // Links, hashtags and mentions around a little text.
      out = base.substr(0, std::min<size_t>(base.size(), 300));
      for (int k = 0; k < 12; ++k) {
        out += " https://shop" + std::to_string(rng.range(1, 99)) + ".example.com/p?id=" + std::to_string(rng.range(1000, 9999));
        out += " #" + std::string(zh ? "好物推荐" : "deal") + std::to_string(k) + " @promo" + std::to_string(rng.range(1, 50));
      }
    } else {
      // Promotional residue.
      static const char* en_p[] = {"Buy now!", "Click here to order.", "Limited time offer!", "Free shipping worldwide.",
                                   "Order today and save 50%!", "Call now, best price guaranteed."};
      static const char* zh_p[] = {"加微信领取优惠！", "限时特价，立即抢购！", "点击链接下单。", "全网最低价，包邮！", "扫码关注有惊喜。"};
      out = kw + (zh ? "。" : ". ");
      for (int k = 0; k < 8; ++k) out += std::string(zh ? zh_p[rng.below(5)] : en_p[rng.below(6)]) + (zh ? "" : " ") + kw + (zh ? "！" : "! ");
      out += zh ? base.substr(0, std::min<size_t>(base.size(), 150 * 3)) : base.substr(0, 400);
    }
    return utf8_sanitize(out);
  }

  std::string low_quality(bool zh) {
    // Each one different (a page number, a site name), as boilerplate is on the web.
    std::string page = std::to_string(rng.range(1, 99999));
    switch (rng.below(3)) {
      case 0: return zh ? "上一篇：第" + page + "期\n下一篇\n展开\n更多\n首页 | 关于我们 | 联系我们\n返回顶部" : "Home | About | Contact\nRead more\nNext page " + page + "\nPrevious page\nShare this\nLogin | Register";
      case 1: return "Lorem ipsum dolor sit amet, consectetur adipiscing elit " + page + ", sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Lorem ipsum dolor sit amet, consectetur adipiscing elit. Lorem ipsum dolor sit amet.";
      default: {
        auto w = split_ws(en_text(20));
        w.resize(std::min<size_t>(w.size(), 12));
        return join(w, " ");
      }
    }
  }
};

const char* kSources[] = {"forum", "blog", "news", "weibo", "wiki", "qa"};

}  // namespace

double word_shingle_jaccard(const std::string& a, const std::string& b, int n) {
  auto sh = [&](const std::string& s) {
    std::vector<std::string> w;
    std::string cur;
    for (char c : s) {
      if (std::isalnum((unsigned char)c) || (unsigned char)c >= 0x80) cur += (char)std::tolower((unsigned char)c);
      else if (!cur.empty()) { w.push_back(cur); cur.clear(); }
    }
    if (!cur.empty()) w.push_back(cur);
    std::unordered_set<std::string> out;
    for (size_t i = 0; i + n <= w.size(); ++i) {
      std::string k;
      for (int t = 0; t < n; ++t) k += w[i + t] + " ";
      out.insert(k);
    }
    return out;
  };
  auto A = sh(a), B = sh(b);
  size_t inter = 0;
  for (auto& x : A) inter += B.count(x);
  size_t uni = A.size() + B.size() - inter;
  return uni ? (double)inter / uni : 1.0;
}

SynthSummary synth_corpus(const SynthOptions& opt) {
  check(!opt.output.empty(), "synth: no output file");
  check(opt.docs >= 1, "synth: --docs must be at least 1");
  Gen g(opt);
  load_bible(opt, g.src);
  load_wordnet(opt, g.src);
  load_fortunes(opt, g.src);
  load_jieba(opt, g.src);
  for (const char* lang : {"de", "fr", "es", "ru", "ja"}) {
    auto msgs = read_mo(opt.locale_dir + "/" + lang + "/LC_MESSAGES/coreutils.mo");
    if (msgs.size() >= 50) g.src.other.push_back({lang, std::move(msgs)});
  }
  check(!g.src.other.empty(), "synth: no message translations under " + opt.locale_dir);
  g.zh_order.resize(g.src.zh.size());
  for (size_t i = 0; i < g.zh_order.size(); ++i) g.zh_order[i] = i;
  for (size_t i = g.zh_order.size(); i > 1; --i) std::swap(g.zh_order[i - 1], g.zh_order[g.rng.below(i)]);

  struct W { const char* label; double w; };
  const W mix[] = {{"clean", 0.46}, {"exact_dup", 0.06}, {"near_dup", 0.06}, {"private", 0.07}, {"optout", 0.02},
                   {"other_lang", 0.04}, {"spam", 0.06}, {"spun", 0.06}, {"pii", 0.07}, {"pii_heavy", 0.01},
                   {"low_quality", 0.03}, {"malformed", 0.06}};
  AtomicFile out(opt.output);
  std::unique_ptr<AtomicFile> labels, optout;
  if (opt.write_sidecars) {
    labels = std::make_unique<AtomicFile>(opt.output + ".labels.tsv");
    labels->write("line\tid\tlabel\tdetail\n");
    optout = std::make_unique<AtomicFile>(opt.output + ".optout.txt");
    optout->write("# opt-out list for the synthetic corpus (veritas curate synth)\n");
  }
  SynthSummary sum;
  Progress prog("synth", opt.docs, "docs");
  Rng& rng = g.rng;
  int optout_n = 0;
  for (int64_t n = 0; n < opt.docs; ++n) {
    double u = rng.uniform(), acc = 0;
    std::string label = "clean";
    for (auto& m : mix) {
      acc += m.w;
      if (u < acc) { label = m.label; break; }
    }
    if ((label == "exact_dup" || label == "near_dup") && g.originals.empty()) label = "clean";
    bool zh = rng.uniform() < 0.4;
    std::string id = "s" + std::to_string(opt.seed) + "-" + std::to_string(n);
    json d;
    d["id"] = id;
    d["source"] = kSources[rng.below(6)];
    d["visibility"] = "public";
    d["author"] = "user" + std::to_string(rng.range(1, 5000));
    d["url"] = "https://example.com/" + d["source"].get<std::string>() + "/" + id;
    char date[32];
    std::snprintf(date, sizeof date, "20%02d-%02d-%02dT%02d:00:00Z", (int)rng.range(10, 24), (int)rng.range(1, 12),
                  (int)rng.range(1, 28), (int)rng.range(0, 23));
    d["created_at"] = date;
    std::string text, detail;
    if (label == "clean" || label == "private" || label == "optout") {
      text = zh ? g.zh_text(150) : g.en_text(80);
      if (label == "private") {
        static const char* vis[] = {"private", "protected", "followers", "followers-only", "deleted", "unlisted",
                                    "", "PUBLIC", "draft", "MISSING", "NUMBER"};
        std::string v = vis[rng.below(11)];
        if (v == "MISSING") d.erase("visibility");
        else if (v == "NUMBER") d["visibility"] = 1;
        else d["visibility"] = v;
        detail = v;
      }
      if (label == "optout") {
        int kind = (int)rng.below(3);
        std::string line;
        if (kind == 0) { line = "id:" + id; detail = "id"; }
        else if (kind == 1) { d["author"] = "optout-user" + std::to_string(optout_n); line = "author:" + d["author"].get<std::string>(); detail = "author"; }
        else { line = "url:" + d["url"].get<std::string>(); detail = "url"; }
        ++optout_n;
        if (optout) optout->write(line + "\n");
      }
      if (label == "clean" && chars(text).size() > (zh ? 200u : 500u)) {
        g.originals.push_back({id, text, zh});
        if (g.originals.size() > 4000) g.originals.erase(g.originals.begin(), g.originals.begin() + 2000);
      }
    } else if (label == "exact_dup" || label == "near_dup") {
      const auto& o = g.originals[rng.below(g.originals.size())];
      zh = o.zh;
      d["dup_of"] = o.id;
      if (label == "exact_dup") {
        // Equal after normalization: markup, entity spaces, extra blanks, CRLF.
        switch (rng.below(4)) {
          case 0: text = o.text; detail = "identical"; break;
          case 1: {
            // Paragraphs in <p>, line breaks as <br>: the same text after normalization.
            text = "<div class=\"post\">";
            size_t a = 0;
            while (a <= o.text.size()) {
              size_t b = o.text.find("\n\n", a);
              if (b == std::string::npos) b = o.text.size();
              std::string para = o.text.substr(a, b - a);
              text += "\n<p>";
              for (char c : para) text += c == '\n' ? std::string("<br>") : std::string(1, c);
              text += "</p>";
              a = b + 2;
            }
            text += "\n</div>";
            detail = "html";
            break;
          }
          case 2:
            for (char c : o.text) text += c == ' ' ? std::string("  ") : std::string(1, c);
            text = "   " + text + "\n\n\n";
            detail = "whitespace";
            break;
          default:
            for (char c : o.text) text += c == '\n' ? std::string("\r\n") : std::string(1, c);
            detail = "crlf";
        }
      } else {
        // About 1% of the words (characters in Chinese) changed, plus a short footer.
        if (zh) {
          auto cs = chars(o.text);
          size_t k = std::max<size_t>(1, cs.size() / 100);
          for (size_t t = 0; t < k; ++t) {
            size_t pos = rng.below(cs.size());
            if (is_han_char(cs[pos])) cs[pos] = cs[rng.below(cs.size())];
          }
          text = join(cs, "") + "\n\n转载请注明出处。";
        } else {
          auto ws = split_ws(o.text);
          size_t k = std::max<size_t>(1, ws.size() / 100);
          for (size_t t = 0; t < k; ++t) ws[rng.below(ws.size())] = ws[rng.below(ws.size())];
          text = join(ws, " ") + "\n\nShared from the reading group.";
        }
        detail = "edited copy";
      }
    } else if (label == "other_lang") {
      zh = false;
      text = g.other_text();
      d["lang"] = "other";
    } else if (label == "spam") {
      text = g.spam(zh);
    } else if (label == "spun") {
      std::string base = zh ? g.zh_text(150) : g.en_text(80);
      text = zh ? g.spin_zh(base, 0.35) : g.spin_en(base, 0.35);
    } else if (label == "pii" || label == "pii_heavy") {
      int count = label == "pii" ? (int)rng.range(1, 4) : (int)rng.range(25, 35);
      text = g.insert_pii(zh ? g.zh_text(150) : g.en_text(80), zh, count);
      d["pii_count"] = count;
      detail = std::to_string(count);
    } else if (label == "low_quality") {
      text = g.low_quality(zh);
    }
    if (!d.contains("lang")) d["lang"] = zh ? "zh" : "en";  // declared language (the pipeline re-identifies it)
    std::string line;
    if (label == "malformed") {
      text = zh ? g.zh_text(60) : g.en_text(30);
      d["text"] = text;
      d["label"] = label;
      static const char* kinds[] = {"truncated_json", "invalid_utf8", "missing_text", "text_not_string", "not_object", "blank_line"};
      detail = kinds[rng.below(6)];
      if (detail == "truncated_json") { line = d.dump(); line.resize(line.size() / 2); }
      else if (detail == "invalid_utf8") { line = d.dump(); line.insert(line.find("\"text\":\"") + 8, "\xff\xfe"); }
      else if (detail == "missing_text") { d.erase("text"); line = d.dump(); }
      else if (detail == "text_not_string") { d["text"] = 42; line = d.dump(); }
      else if (detail == "not_object") { line = json::array({id, text}).dump(); }
      else line = "";
    } else {
      d["title"] = g.title_of(text, zh);
      d["text"] = text;
      d["label"] = label;
      line = d.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    out.write(line + "\n");
    sum.bytes += line.size() + 1;
    ++sum.labels[label];
    if (labels) labels->write(std::to_string(n + 1) + "\t" + id + "\t" + label + "\t" + detail + "\n");
    if ((n & 255) == 0) prog.update(n);
  }
  prog.finish();
  out.commit();
  if (labels) labels->commit();
  if (optout) optout->commit();
  return sum;
}

}  // namespace veritas
