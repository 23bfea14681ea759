// Spam filter: one decode pass builds the collapsed code-point sequence (for n-gram
// repetition) and counts links, hashtags and mentions; promotional phrases come from an
// Aho-Corasick scan.
#include "veritas/data/spam.hpp"

#include <algorithm>
#include <memory>
#include <mutex>

#include "veritas/data/quality.hpp"
#include "veritas/data/hash_counter.hpp"
#include "veritas/util/config.hpp"
#include "veritas/util/text.hpp"

namespace veritas {

namespace {

inline bool is_han(uint32_t c) { return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF); }
inline bool is_word_cp(uint32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c > 0x7F;
}
using filters::HashCounter;

const std::vector<std::string>& builtin_promo() {
  static const std::vector<std::string> v = {
      // Chinese promotional residue: contact-me-on-WeChat, purchasing agents, deals.
      "加微信", "加我微信", "加v", "微信号", "微信同号", "代购", "优惠", "优惠券", "促销", "包邮", "免费领取",
      "点击购买", "限时", "抢购", "秒杀", "特价", "折扣", "招代理", "代理加盟", "兼职日结", "刷单", "返利",
      "日赚", "月入过万", "货到付款", "咨询热线", "扫码", "私聊", "联系客服", "淘宝店", "旗舰店", "全网最低",
      "厂家直销", "一件代发", "立即下单", "现货", "火爆招商",
      // English.
      "buy now", "click here", "limited offer", "limited time offer", "order now", "free shipping", "discount",
      "best price", "lowest price", "promo code", "coupon", "act now", "100% free", "money back", "call now",
      "subscribe now", "sign up now", "special offer", "don't miss", "earn money", "make money fast",
      "work from home", "casino", "viagra", "shop now", "visit our website", "whatsapp", "dm me", "click the link",
      "free trial", "risk-free", "best deal", "hot sale", "% off", "cheap"};
  return v;
}

// The link prefixes, matched by the promotional phrases' automaton after them (one scan).
const std::vector<std::string> kLinks = {"http://", "https://", "www."};

// One matcher per distinct extra_promo list (normally just the default): the built-in
// phrases, then extra_promo, then kLinks.
const PhraseMatcher& promo_matcher(const std::vector<std::string>& extra) {
  // Per-thread memo, so concurrent documents do not meet at the mutex below.
  thread_local const PhraseMatcher* last = nullptr;
  thread_local std::vector<std::string> last_extra;
  if (last && last_extra == extra) return *last;
  static std::mutex mu;
  static std::vector<std::pair<std::vector<std::string>, std::unique_ptr<PhraseMatcher>>> cache;
  std::lock_guard<std::mutex> lock(mu);
  last_extra = extra;
  for (auto& [k, m] : cache)
    if (k == extra) return *(last = m.get());
  std::vector<std::string> all = builtin_promo();
  all.insert(all.end(), extra.begin(), extra.end());
  all.insert(all.end(), kLinks.begin(), kLinks.end());
  cache.emplace_back(extra, std::make_unique<PhraseMatcher>(all));
  return *(last = cache.back().second.get());
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

// Grows v to at least n elements (never shrinks it, so a per-thread buffer is
// initialized once) and returns its data for raw writes.
template <class T>
T* room(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Per-thread buffers of the n-gram counts.
struct Scratch {
  std::vector<uint64_t> prefix, tprefix;  // prefix hashes of the body and of the title
  std::vector<uint64_t> g;     // n-gram hashes by position
  std::vector<uint32_t> cand;  // positions that may qualify
  HashCounter table;
  filters::CountSketch sketch;
};

// The title's n-grams: the exact set, and a sketch that rules most other n-grams out
// with one load.
struct TitleSet {
  HashCounter set;
  filters::CountSketch sketch;
};

constexpr uint64_t kB = 0x100000001B3ULL;

// Prefix hashes of seq + 1: P[0] = 0, P[k+1] = P[k] * B + seq[k] + 1, so that the hash
// of the n code points from k, as a rolling hash computes it (mod 2^64), is
// P[k+n] - P[k] * B^n, for any n from one array. Two interleaved chains,
// P[k+2] = P[k] * B^2 + ((seq[k] + 1) * B + seq[k+1] + 1), keep one multiply per two
// steps on each dependency chain.
const uint64_t* prefix_hashes(const uint32_t* seq, size_t len, std::vector<uint64_t>& buf) {
  uint64_t* P = room(buf, len + 1);
  const uint64_t B2 = kB * kB;
  P[0] = 0;
  if (len) P[1] = (uint64_t)seq[0] + 1;
  uint64_t pe = P[0], po = len ? P[1] : 0;
  size_t k = 0;
  for (; k + 2 < len; k += 2) {  // P[k+2] and P[k+3]
    uint64_t y0 = (uint64_t)seq[k] + 1, y1 = (uint64_t)seq[k + 1] + 1, y2 = (uint64_t)seq[k + 2] + 1;
    pe = pe * B2 + (y0 * kB + y1);
    po = po * B2 + (y1 * kB + y2);
    P[k + 2] = pe;
    P[k + 3] = po;
  }
  if (k + 2 == len) P[k + 2] = pe * B2 + (((uint64_t)seq[k] + 1) * kB + seq[k + 1] + 1);
  return P;
}

// Share of positions covered by n-grams (over the len code points whose prefix hashes
// are P) that occur >= min_rep times. When `allowed` is given, only n-grams in it count
// (title stuffing). `table` receives the counts of the candidate n-grams: all of them
// when min_rep <= 1 and allowed is null.
double repeat_coverage(const uint64_t* P, size_t len, int n, int min_rep, HashCounter& table,
                       const TitleSet* allowed, Scratch& sc) {
  if (len < (size_t)n || n <= 0) return 0;
  const size_t m = len - n + 1;
  uint64_t* g = room(sc.g, m);
  uint64_t bn = 1;
  for (int k = 0; k < n; ++k) bn *= kB;
  // Candidates (positions in cand, their hashes compacted into g): the allowed n-grams,
  // or those whose sketch cell reaches min_rep (the others occur fewer times); only they
  // are counted exactly.
  uint32_t* cand = room(sc.cand, m);
  size_t q = 0;
  if (allowed) {
    for (size_t k = 0; k < m; ++k) {
      const uint64_t h = P[k + n] - P[k] * bn;
      cand[q] = (uint32_t)k;
      g[q] = h;
      q += allowed->sketch.at_least(h) != 0;
    }
    size_t r = 0;
    for (size_t x = 0; x < q; ++x)
      if (allowed->set.find(g[x])) {
        cand[r] = cand[x];
        g[r++] = g[x];
      }
    q = r;
  } else {
    for (size_t k = 0; k < m; ++k) g[k] = P[k + n] - P[k] * bn;
    if (min_rep > 1 && min_rep <= 255) {  // the sketch's counters saturate at 255
      sc.sketch.reset(m, 4);
      sc.sketch.add_all(g, m);
      q = sc.sketch.select(g, m, (uint32_t)min_rep, cand);
      for (size_t x = 0; x < q; ++x) g[x] = g[cand[x]];
    } else {
      for (size_t k = 0; k < m; ++k) cand[k] = (uint32_t)k;
      q = m;
    }
  }
  table.reset(q);
  for (size_t x = 0; x < q; ++x) ++table.slot(g[x]);
  size_t cover_end = 0, covered = 0;
  for (size_t x = 0; x < q; ++x) {
    if (*table.find(g[x]) < (uint32_t)min_rep) continue;
    size_t k = cand[x];
    size_t from = std::max(k, cover_end);
    covered += k + n - from;
    cover_end = k + n;
  }
  return (double)covered / len;
}

// Code points with whitespace runs collapsed to one space and ASCII lower-cased; with
// han_only, only Han characters (Chinese stuffing is in Chinese; repeated commands, table
// rules or Latin names in a Chinese manual are not stuffing). check_spam builds the
// body's sequence the same way inside its first pass.
void collapse(std::string_view s, std::vector<uint32_t>& seq, bool han_only = false) {
  seq.clear();
  bool space = true;
  size_t i = 0;
  while (i < s.size()) {
    uint32_t c = utf8_next(s, i);
    if (is_text_space(c)) {
      if (!space) seq.push_back(' ');
      space = true;
      continue;
    }
    space = false;
    if (han_only && !is_han(c)) continue;
    seq.push_back((c >= 'A' && c <= 'Z') ? c + 32 : c);
  }
}

}  // namespace

SpamConfig SpamConfig::from_json(const nlohmann::json& j) {
  SpamConfig c;
#define Q(k) c.k = get_or(j, #k, c.k)
  Q(enabled); Q(stuff_ngram); Q(stuff_ngram_zh); Q(stuff_min_repeats); Q(max_stuffing); Q(title_ngram);
  Q(title_ngram_zh); Q(max_title_coverage); Q(max_links_per_100_words); Q(max_hashtags_per_100_words);
  Q(max_mentions_per_100_words); Q(min_density_count); Q(max_promo_hits); Q(max_promo_per_1000_chars);
#undef Q
  if (j.is_object() && j.contains("extra_promo")) c.extra_promo = j["extra_promo"].get<std::vector<std::string>>();
  return c;
}

Decision check_spam(Document& doc, const SpamConfig& cfg) {
  if (!cfg.enabled) return Decision::ok();
  const std::string_view s = doc.text;
  const bool zh = doc.lang == Lang::Zh;
  thread_local std::vector<uint32_t> seq_buf, tseq;
  thread_local Scratch sc;
  thread_local TitleSet title;

  // Words, hashtags and mentions, and the collapsed sequence for the n-gram rules, in
  // one pass (the decode and the rules are those of collapse()).
  int64_t tokens = 0, han = 0, hashtags = 0, mentions = 0;
  uint32_t* seq = room(seq_buf, s.size() + 1);  // at most one code point per byte
  size_t len = 0;
  {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    uint32_t prev = ' ';
    bool in_tok = false;
    while (i < n) {
      // ASCII and complete 3-byte sequences decode inline, the rest through utf8_next
      // (the inline paths agree with it).
      uint32_t c = p[i];
      if (c < 0x80) {
        // ASCII without data-dependent branches (word boundaries are unpredictable).
        ++i;
        const bool sp = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        seq[len] = sp ? ' ' : (c >= 'A' && c <= 'Z') ? c + 32 : c;
        len += sp ? in_tok : !zh;
        tokens += !sp & !in_tok;
        if ((c == '#' || c == '@') && !is_word_cp(prev) && prev != '#' && prev != '@' && i < n) {
          size_t j = i;
          uint32_t nx = utf8_next(s, j);
          if (is_word_cp(nx) && !is_text_space(nx) && nx != 0x3000) (c == '@' ? mentions : hashtags) += 1;
        }
        in_tok = !sp;
        prev = c;
        continue;
      }
      if ((c & 0xF0) == 0xE0 && i + 2 < n) {
        c = (c & 0x0F) << 12 | (uint32_t)(p[i + 1] & 0x3F) << 6 | (p[i + 2] & 0x3F);
        i += 3;
      } else {
        c = utf8_next(s, i);
      }
      if (c <= ' ' ? (c == ' ' || c == '\t' || c == '\r' || c == '\n') : (c == 0x3000 || c == 0xA0)) {
        seq[len] = ' ';
        len += in_tok;
        in_tok = false;
        prev = c;
        continue;
      }
      tokens += !in_tok;
      in_tok = true;
      bool h = c >= 0x3400 && is_han(c);
      han += h;
      seq[len] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
      len += !zh || h;
      if ((c == '#' || c == '@' || c == 0xFF03) && !is_word_cp(prev) && prev != '#' && prev != '@' && i < n) {
        size_t j = i;
        uint32_t nx = utf8_next(s, j);
        if (is_word_cp(nx) && !is_text_space(nx) && nx != 0x3000) (c == '@' ? mentions : hashtags) += 1;
      }
      prev = c;
    }
  }
  // Links and promotional phrases in one scan; promotional hits are kept in order for
  // after the density rules.
  const PhraseMatcher& pm = promo_matcher(cfg.extra_promo);
  const size_t link0 = pm.size() - kLinks.size();
  int64_t links = 0;
  thread_local std::vector<uint32_t> promo_hits;
  promo_hits.clear();
  pm.scan(s, [&](size_t p, size_t b) {
    if (p < link0) {
      promo_hits.push_back((uint32_t)p);
      return;
    }
    // "https://www." is one link.
    if (p == link0 + 2 && b >= 2 && s[b - 1] == '/' && s[b - 2] == '/') return;
    ++links;
  });
  const double words = std::max(1.0, (double)tokens + han / 1.5);
  double per100 = 100.0 / words;
  doc.scores.emplace_back("spam.links", links * per100);
  if (links >= cfg.min_density_count && links * per100 > cfg.max_links_per_100_words)
    return Decision::drop("spam.links", "links_per_100_words=" + fmt(links * per100) + " > " +
                                            fmt(cfg.max_links_per_100_words) + " (" + std::to_string(links) + " links)");
  if (hashtags >= cfg.min_density_count && hashtags * per100 > cfg.max_hashtags_per_100_words)
    return Decision::drop("spam.hashtags", "hashtags_per_100_words=" + fmt(hashtags * per100) + " > " +
                                               fmt(cfg.max_hashtags_per_100_words));
  if (mentions >= cfg.min_density_count && mentions * per100 > cfg.max_mentions_per_100_words)
    return Decision::drop("spam.mentions", "mentions_per_100_words=" + fmt(mentions * per100) + " > " +
                                               fmt(cfg.max_mentions_per_100_words));

  // Promotional residue.
  {
    thread_local std::vector<char> seen;
    seen.assign(link0, 0);
    int hits = 0, distinct = 0;
    std::string first;
    for (uint32_t p : promo_hits) {
      ++hits;
      if (!seen[p]) {
        seen[p] = 1;
        ++distinct;
        if (distinct <= 4) first += (first.empty() ? "" : ", ") + pm.phrase(p);
      }
    }
    double per1000 = len == 0 ? 0 : hits * 1000.0 / len;
    doc.scores.emplace_back("spam.promo", hits);
    if (distinct > cfg.max_promo_hits)
      return Decision::drop("spam.promo", "distinct_promo_phrases=" + std::to_string(distinct) + " > " +
                                              std::to_string(cfg.max_promo_hits) + " (" + first + ")");
    if (hits >= 3 && per1000 > cfg.max_promo_per_1000_chars)
      return Decision::drop("spam.promo", "promo_per_1000_chars=" + fmt(per1000) + " > " +
                                              fmt(cfg.max_promo_per_1000_chars) + " (" + first + ")");
  }

  // Keyword stuffing: repeated character n-grams.
  int n = zh ? cfg.stuff_ngram_zh : cfg.stuff_ngram;
  const uint64_t* P = prefix_hashes(seq, len, sc.prefix);
  double stuff = repeat_coverage(P, len, n, cfg.stuff_min_repeats, sc.table, nullptr, sc);
  doc.scores.emplace_back("spam.stuffing", stuff);
  if (stuff > cfg.max_stuffing)
    return Decision::drop("spam.keyword_stuffing", "repeated_" + std::to_string(n) + "gram_coverage=" + fmt(stuff) +
                                                       " > " + fmt(cfg.max_stuffing));
  if (!doc.title.empty()) {
    int tn = zh ? cfg.title_ngram_zh : cfg.title_ngram;
    collapse(doc.title, tseq, zh);
    if (tseq.size() >= (size_t)tn) {
      // Title n-gram set, then body coverage by those n-grams when repeated.
      // Fills title.set with the title's n-grams (the coverage itself is not needed).
      repeat_coverage(prefix_hashes(tseq.data(), tseq.size(), sc.tprefix), tseq.size(), tn, 1, title.set, nullptr, sc);
      title.sketch.reset(tseq.size(), 32);
      for (size_t k = 0; k + tn <= tseq.size(); ++k) title.sketch.add(sc.g[k]);
      double tc = repeat_coverage(P, len, tn, cfg.stuff_min_repeats, sc.table, &title, sc);
      doc.scores.emplace_back("spam.title_coverage", tc);
      if (tc > cfg.max_title_coverage)
        return Decision::drop("spam.title_stuffing", "title_ngram_coverage=" + fmt(tc) + " > " +
                                                         fmt(cfg.max_title_coverage));
    }
  }
  return Decision::ok();
}

}  // namespace veritas
