// Quality heuristics and spam filter: clean held-out passages from Debian text (KJV,
// WordNet glosses, fortunes-zh) must pass; documents made bad in one specific way
// (navigation residue, duplicated lines, lorem ipsum, code, keyword stuffing, link
// farms, promotions ...) must be dropped with the matching reason. Prints the rates.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>

#include "veritas/data/quality.hpp"
#include "veritas/data/spam.hpp"
#include "veritas/data/spun.hpp"
#include "veritas/util/rng.hpp"

namespace veritas {
namespace {

Document doc(std::string text, Lang lang, std::string title = "") {
  Document d;
  d.text = std::move(text);
  d.lang = lang;
  d.title = std::move(title);
  return d;
}

const std::vector<std::string>& clean(Lang lang) {
  static std::vector<std::string> en = spun_eval_passages(Lang::En, 1, 400);
  static std::vector<std::string> zh = [] {
    // Chinese fortunes are short; join three passages to reach article length.
    auto p = spun_eval_passages(Lang::Zh, 1, 600);
    std::vector<std::string> out;
    for (size_t k = 0; k + 2 < p.size(); k += 3) out.push_back(p[k] + "\n" + p[k + 1] + "\n" + p[k + 2]);
    return out;
  }();
  return lang == Lang::Zh ? zh : en;
}

template <class F>
double keep_rate(Lang lang, F check, const char* name) {
  std::map<std::string, int> reasons;
  int kept = 0, n = 0;
  for (const auto& t : clean(lang)) {
    Document d = doc(t, lang);
    Decision r = check(d);
    ++n;
    kept += r.keep;
    if (!r.keep && ++reasons[r.reason] <= 2 && std::getenv("VERITAS_TEST_VERBOSE"))
      std::printf("  drop %s: %s | %.160s\n", r.reason.c_str(), r.detail.c_str(), t.c_str());
  }
  std::string why;
  for (auto& [k, v] : reasons) why += " " + k + "=" + std::to_string(v);
  std::printf("[%s %s] clean held-out: kept %d/%d (false-positive rate %.3f)%s\n", name, lang_code(lang), kept, n,
              1.0 - (double)kept / n, why.c_str());
  return (double)kept / n;
}

// Applies `spoil` to clean passages; returns the share dropped with `reason`.
double recall(Lang lang, const std::function<std::string(const std::string&, Rng&)>& spoil,
              const std::function<Decision(Document&)>& check, const std::string& reason, int n = 150) {
  Rng rng(5);
  int hit = 0, total = 0;
  std::string other;
  for (const auto& t : clean(lang)) {
    if (total == n) break;
    Document base = doc(t, lang);
    if (!check(base).keep) continue;  // per-reason recall on otherwise clean documents
    Document d = doc(spoil(t, rng), lang);
    Decision r = check(d);
    ++total;
    hit += !r.keep && r.reason == reason;
    if ((r.keep || r.reason != reason) && other.size() < 200) other += (r.keep ? "kept" : r.reason) + std::string(" ");
  }
  double rc = (double)hit / total;
  std::printf("[%s %s] recall %.3f (%d/%d) %s\n", reason.c_str(), lang_code(lang), rc, hit, total, other.c_str());
  return rc;
}

Decision q(Document& d) { return check_quality(d, QualityConfig{}); }
Decision sp(Document& d) { return check_spam(d, SpamConfig{}); }

TEST(FiltersQuality, CleanTextPasses) {
  // Measured when written: en 0.943 kept (the drops are repetitive KJV genealogies and
  // lists, caught by the published Gopher repetition rules, and 38-41-word passages);
  // zh 0.375 kept: fortunes-zh is mostly short poems (< 100 characters), Debian-manual
  // excerpts with box-drawing layout and command lines -- the rules fire for those
  // reasons, as the printed reason counts show. See docs/curation-filters.md.
  EXPECT_GE(keep_rate(Lang::En, q, "quality"), 0.93);
  EXPECT_GE(keep_rate(Lang::Zh, q, "quality"), 0.30);
}

TEST(FiltersQuality, ModernChineseArticlePasses) {
  std::string a =
      "近年来，城市公共交通的发展速度明显加快。许多城市开通了新的地铁线路，并对原有的公交网络进行了调整，"
      "使居民出行更加方便。\n\n"
      "根据交通部门公布的数据，去年全市公共交通的日均客流量比前年增长了百分之十二。专家认为，这与票价优惠、"
      "线路优化以及换乘条件的改善都有关系。\n\n"
      "不过，也有市民反映，早晚高峰时段车厢依然拥挤，部分站点的换乘通道过长。对此，有关部门表示，将在明年"
      "增加列车班次，并在重点站点增设指示标志，进一步提高服务水平。";
  Document d = doc(a, Lang::Zh);
  Decision r = check_quality(d, QualityConfig{});
  EXPECT_TRUE(r.keep) << r.reason << " " << r.detail;
  Document s = doc(a, Lang::Zh);
  EXPECT_TRUE(check_spam(s, SpamConfig{}).keep);
}

TEST(FiltersQuality, BadDocumentsDropWithReason) {
  auto nav_en = [](const std::string& t, Rng&) {
    return "Home\nMenu\n" + t + "\nRead more\nShare this\nPrevious post\nNext post\nBack to top";
  };
  auto nav_zh = [](const std::string& t, Rng&) {
    return "首页\n" + t + "\n上一篇：无\n下一篇：无\n展开全文\n查看更多\n返回顶部";
  };
  EXPECT_GE(recall(Lang::En, nav_en, q, "quality.boilerplate"), 0.95);
  EXPECT_GE(recall(Lang::Zh, nav_zh, q, "quality.boilerplate"), 0.95);
  auto lorem = [](const std::string& t, Rng&) { return t + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."; };
  EXPECT_GE(recall(Lang::En, lorem, q, "quality.lorem_ipsum"), 0.99);
  auto dup = [](const std::string& t, Rng&) {
    std::string line = t.substr(0, std::min<size_t>(t.size(), 120));
    return t + "\n" + line + "\n" + line + "\n" + line + "\n" + line;
  };
  EXPECT_GE(recall(Lang::En, dup, q, "quality.dup_lines"), 0.95);
  auto code = [](const std::string& t, Rng&) {
    return t + "\nfunction f(a){if(a){return {x:1};} var b={}; b.c=a; return b;} window.onload=function(){f(1);};";
  };
  EXPECT_GE(recall(Lang::En, code, q, "quality.code"), 0.9);
  auto ngram = [](const std::string& t, Rng&) {
    std::string s = t.substr(0, 200);
    for (int i = 0; i < 15; ++i) s += " cheap flights to london";
    return s;
  };
  EXPECT_GE(recall(Lang::En, ngram, q, "quality.top_ngram"), 0.9);
  auto shorten = [](const std::string& t, Rng&) { return t.substr(0, 60); };
  EXPECT_GE(recall(Lang::En, shorten, q, "quality.too_short"), 0.99);
}

TEST(FiltersQuality, SingleRules) {
  Document d = doc(std::string(400, 'a') + " " + std::string(400, 'b'), Lang::En);
  EXPECT_FALSE(check_quality(d, QualityConfig{}).keep);
  std::string table;
  for (int i = 0; i < 60; ++i) table += std::to_string(1000 + i * 37) + " " + std::to_string(i * 991) + " and the 12\n";
  Document t = doc(table, Lang::En);
  Decision r = check_quality(t, QualityConfig{});
  EXPECT_FALSE(r.keep);
  EXPECT_FALSE(r.detail.empty());
  QualityConfig off;
  off.enabled = false;
  EXPECT_TRUE(check_quality(t, off).keep);
  auto c = QualityConfig::from_json({{"min_words", 5}, {"max_top_ngram", {0.5, 0.5, 0.5}}});
  EXPECT_EQ(c.min_words, 5);
  EXPECT_DOUBLE_EQ(c.max_top_ngram[1], 0.5);
}

TEST(FiltersQuality, PhraseMatcherBoundaries) {
  PhraseMatcher m({"home", "上一篇", "read more"});
  int hits = 0;
  m.scan("homework is not Home; READ  more? Read More. 上一篇", [&](size_t, size_t) { ++hits; });
  EXPECT_EQ(hits, 3);  // "Home", "Read More", "上一篇"
}

// Long texts are scanned as two interleaved halves: the hits (phrase, begin) and their
// order must be those of a brute-force search (every phrase at every end offset, ASCII
// case folded, word boundaries for phrases that start or end with a word byte; at one
// end offset longest first), also when a phrase straddles the middle.
TEST(FiltersQuality, PhraseMatcherLongTextsMatchBruteForce) {
  const std::vector<std::string> phrases = {"home", "read more", "上一篇", "ab", "b", "abab", "% off", "www.", "Http://"};
  PhraseMatcher m(phrases);
  auto word = [](unsigned char c) { return std::isalnum(c) || c == '_'; };
  auto fold = [](unsigned char c) { return (char)std::tolower(c); };
  Rng rng(9);
  const char* parts[] = {"home", "HOME", "read more", "上一篇", "ab", "abab", "b", " ", "x", "% off", "www.", "http://", "\n", "_", "é"};
  for (int doc = 0; doc < 300; ++doc) {
    std::string t;
    size_t len = 200 + rng.below(800);
    while (t.size() < len) t += parts[rng.below(sizeof parts / sizeof *parts)];
    std::vector<std::pair<size_t, size_t>> got, want;
    m.scan(t, [&](size_t p, size_t b) { got.emplace_back(p, b); });
    for (size_t end = 1; end <= t.size(); ++end) {
      std::vector<size_t> here;
      for (size_t p = 0; p < phrases.size(); ++p) {
        const std::string& ph = phrases[p];
        if (ph.size() > end) continue;
        size_t b = end - ph.size();
        bool eq = true;
        for (size_t k = 0; k < ph.size() && eq; ++k) eq = fold(t[b + k]) == fold(ph[k]);
        if (!eq) continue;
        if (word(ph.front()) && b > 0 && word(t[b - 1])) continue;
        if (word(ph.back()) && end < t.size() && word(t[end])) continue;
        here.push_back(p);
      }
      std::stable_sort(here.begin(), here.end(), [&](size_t a, size_t c) { return phrases[a].size() > phrases[c].size(); });
      for (size_t p : here) want.emplace_back(p, end - phrases[p].size());
    }
    ASSERT_EQ(got, want) << "doc " << doc;
  }
}

TEST(FiltersSpam, CleanTextPasses) {
  // Measured when written: en 0.988, zh 0.977 kept (drops: WordNet gloss lists such as
  // "a master's degree in ..." and repeated phrases in Chinese manuals).
  EXPECT_GE(keep_rate(Lang::En, sp, "spam"), 0.98);
  EXPECT_GE(keep_rate(Lang::Zh, sp, "spam"), 0.96);
}

TEST(FiltersSpam, SpamDropsWithReason) {
  // Keyword fragments spliced into the body, mid-sentence, at random word positions.
  auto splice = [](const std::string& kw) {
    return [kw](const std::string& t, Rng& rng) {
      std::string out;
      size_t pos = 0;
      while (pos < t.size()) {
        size_t step = 20 + rng.below(40);
        while (pos + step < t.size() && ((unsigned char)t[pos + step] & 0xC0) == 0x80) ++step;  // whole characters
        out += t.substr(pos, step);
        pos += step;
        out += kw;
      }
      return out;
    };
  };
  EXPECT_GE(recall(Lang::En, splice(" vintage leather handbags "), sp, "spam.keyword_stuffing"), 0.9);
  // Measured when written: 0.72 -- a 6-character keyword every 7-20 characters covers
  // about 0.3 of the text, at the threshold; lowering max_stuffing to 0.3 gives 0.99
  // but 9% false positives on the Chinese clean set.
  EXPECT_GE(recall(Lang::Zh, splice("高仿手表批发"), sp, "spam.keyword_stuffing"), 0.65);
  auto links = [](const std::string& t, Rng& rng) {
    std::string s = t;
    for (int i = 0; i < 12; ++i) s += " https://shop" + std::to_string(rng.below(1000)) + ".example.com/p?id=" + std::to_string(i);
    return s;
  };
  EXPECT_GE(recall(Lang::En, links, sp, "spam.links"), 0.95);
  auto tags = [](const std::string& t, Rng&) {
    return t + " #love #instagood #photooftheday #fashion #beautiful #happy #cute #tbt #followme #nature";
  };
  EXPECT_GE(recall(Lang::En, tags, sp, "spam.hashtags"), 0.95);
  auto promo_zh = [](const std::string& t, Rng&) { return t + "\n限时特价，全网最低！加微信 abc123 咨询，包邮，货到付款。"; };
  EXPECT_GE(recall(Lang::Zh, promo_zh, sp, "spam.promo"), 0.95);
  auto promo_en = [](const std::string& t, Rng&) {
    return t + "\nLimited time offer! Buy now with free shipping, use promo code SAVE50, click here.";
  };
  EXPECT_GE(recall(Lang::En, promo_en, sp, "spam.promo"), 0.95);
}

TEST(FiltersSpam, TitleStuffing) {
  std::string body = clean(Lang::En)[3];
  std::string stuffed;
  for (size_t pos = 0; pos < body.size(); pos += 50) stuffed += body.substr(pos, 50) + " iphone case deals ";
  Document d = doc(stuffed, Lang::En, "iPhone case deals 2024");
  Decision r = check_spam(d, SpamConfig{});
  EXPECT_FALSE(r.keep);
  EXPECT_TRUE(r.reason == "spam.title_stuffing" || r.reason == "spam.keyword_stuffing") << r.reason;
  Document ok = doc(body, Lang::En, "A passage");
  EXPECT_TRUE(check_spam(ok, SpamConfig{}).keep);
}

}  // namespace
}  // namespace veritas
