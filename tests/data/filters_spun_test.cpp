// Spun-text detector: held-out precision/recall on clean passages and spun copies made by
// the substitution script. The held-out passages never enter the reference statistics
// nor the tuning (see spun.cpp), so these figures are out-of-sample. Figures are printed
// per source too (docs/curation-filters.md section 8 has the table).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "veritas/data/spun.hpp"

namespace veritas {
namespace {

SpunConfig test_config() {
  SpunConfig c;
  c.cache_dir = VERITAS_BINARY_DIR "/cache";  // built once per build folder, then reused
  return c;
}

struct Eval {
  int clean = 0, fp = 0, spun = 0, tp = 0;
};

// join > 1: documents of `join` consecutive held-out passages of one source (about 300
// words or 450 Chinese characters, closer to the length of a web document), up to
// `passages` documents per source.
Eval evaluate(Lang lang, double rate, int passages, uint64_t seed, const std::string& source = "", int join = 1,
              int split = 1) {
  SpunConfig cfg = test_config();
  const SpunModel& m = SpunModel::get(cfg);
  Eval e;
  std::vector<std::string> held;
  if (join == 0) {
    held = spun_eval_passages(lang, split, passages);  // the original sources, as measured before
  } else if (join == 1) {
    held = spun_eval_passages_all(lang, split, passages, source);
  } else {
    for (const std::string& src : spun_eval_source_names(lang)) {
      auto p = spun_eval_passages_all(lang, split, passages * join, src);
      for (size_t k = 0; k + join <= p.size(); k += join) {
        std::string d;
        for (int j = 0; j < join; ++j) d += (j ? "\n" : "") + p[k + j];
        held.push_back(std::move(d));
      }
    }
  }
  for (size_t k = 0; k < held.size(); ++k) {
    SpunFeatures c = m.score(held[k], lang);
    if (c.words < cfg.min_words) continue;
    ++e.clean;
    e.fp += c.prob > cfg.threshold;
    std::string s = make_spun_copy(held[k], lang, rate, seed + k);
    if (s == held[k]) continue;  // nothing replaceable
    SpunFeatures f = m.score(s, lang);
    ++e.spun;
    e.tp += f.prob > cfg.threshold;
  }
  return e;
}

void report(const std::string& name, const Eval& e, const char* split = "held-out");
// Per-source figures (printed only): the totals balance the sources, these show each.
void report_sources(Lang lang, const char* tag) {
  for (const std::string& src : spun_eval_source_names(lang)) {
    report(std::string(tag) + " " + src + " rate=0.30", evaluate(lang, 0.3, 150, 501, src));
    report(std::string(tag) + " " + src + " rate=0.15", evaluate(lang, 0.15, 150, 503, src));
  }
}
void report(const std::string& name, const Eval& e, const char* split) {
  double recall = e.spun ? (double)e.tp / e.spun : 0, fpr = e.clean ? (double)e.fp / e.clean : 0;
  double precision = e.tp + e.fp ? (double)e.tp / (e.tp + e.fp) : 0;
  std::printf("[spun %s] %s: clean %d (false positives %d, rate %.3f), spun %d (detected %d, recall %.3f), "
              "precision %.3f\n",
              name.c_str(), split, e.clean, e.fp, fpr, e.spun, e.tp, recall, precision);
}

// The headline figures: ~100-word passages (~150 Chinese characters) balanced across the
// language's sources; then the original sources alone (comparable with earlier
// versions), documents of three passages, and each source (printed only).
struct HeldOut {
  Eval passages, documents;  // rate 0.30: passages, and documents of three passages
};
// Measures and prints every held-out figure of one language; seed30 and seed15 seed the
// substitutions at rates 0.30 and 0.15 (documents: the same plus 100).
HeldOut held_out(Lang lang, const char* tag, uint64_t seed30, uint64_t seed15) {
  const std::string t = tag;
  HeldOut h{evaluate(lang, 0.3, 400, seed30), evaluate(lang, 0.3, 40, seed30 + 100, "", 3)};
  report(t + " rate=0.30", h.passages);
  report(t + " rate=0.15", evaluate(lang, 0.15, 400, seed15));
  report(t + " original sources rate=0.30", evaluate(lang, 0.3, 400, seed30, "", 0));
  report(t + " original sources rate=0.15", evaluate(lang, 0.15, 400, seed15, "", 0));
  report(t + " 3-passage documents rate=0.30", h.documents);
  report(t + " 3-passage documents rate=0.15", evaluate(lang, 0.15, 40, seed15 + 100, "", 3));
  report_sources(lang, tag);
  return h;
}
double fp_rate(const Eval& e) { return (double)e.fp / e.clean; }
double recall(const Eval& e) { return (double)e.tp / e.spun; }

TEST(FiltersSpun, EnglishHeldOut) {
  HeldOut h = held_out(Lang::En, "en", 77, 99);
  ASSERT_GT(h.passages.clean, 200);
  // Measured: 0.5 % false positives, recall 0.670 at rate 0.30 and 0.350 at 0.15 on
  // passages (the original sources alone: 2.2 %, 0.729 / 0.371; before the mixture
  // evidence 0.7 %, 0.620 / 0.277; before the larger reference text 1.0 %, 0.58 / 0.21);
  // 3-passage documents 0.4 %, 0.988 / 0.700. Passages are short of the 0.9 target
  // (docs/curation-filters.md); the bounds guard against regressions.
  EXPECT_LE(fp_rate(h.passages), 0.02);
  EXPECT_GE(recall(h.passages), 0.62);
  EXPECT_LE(fp_rate(h.documents), 0.02);
  EXPECT_GE(recall(h.documents), 0.95);
}

TEST(FiltersSpun, ChineseHeldOut) {
  HeldOut h = held_out(Lang::Zh, "zh", 7, 9);
  ASSERT_GT(h.passages.clean, 200);
  // Measured (classical cut 0.537, derived from the tuning split): 1.1 % false
  // positives, recall 0.760 at rate 0.30 and 0.355 at 0.15 on passages (modern prose
  // 0.91-1.00 at 0.30; classical fortunes-zh 0.21 with 2.8 % false positives; the
  // original source alone 4.8 %, 0.230 / 0.168; before the larger reference text, on
  // fortunes-zh alone: 1.1 %, 0.20 / 0.06); 3-passage documents 2.2 %, 0.761 / 0.573.
  // The bounds guard against regressions.
  EXPECT_LE(fp_rate(h.passages), 0.025);
  EXPECT_GE(recall(h.passages), 0.70);
  EXPECT_LE(fp_rate(h.documents), 0.04);
  EXPECT_GE(recall(h.documents), 0.70);
}

// Development only (run with --gtest_also_run_disabled_tests): the same measures on the
// tuning split, with spun copies other than the fit's (different seeds). Model changes
// are judged here; the held-out split is measured once afterwards. In-sample for the
// operating point (about 1 % false positives by construction).
// Recall at the threshold that gives `fpr` false positives on these clean passages
// (compares models independently of their operating points).
double recall_at_fpr(Lang lang, double rate, int passages, uint64_t seed, double fpr) {
  const SpunModel& m = SpunModel::get(test_config());
  std::vector<double> clean, spun;
  auto held = spun_eval_passages_all(lang, 0, passages);
  for (size_t k = 0; k < held.size(); ++k) {
    SpunFeatures c = m.score(held[k], lang);
    if (c.words < test_config().min_words) continue;
    clean.push_back(c.llr);
    std::string s = make_spun_copy(held[k], lang, rate, seed + k);
    if (s != held[k]) spun.push_back(m.score(s, lang).llr);
  }
  std::sort(clean.begin(), clean.end());
  double thr = clean[std::min(clean.size() - 1, (size_t)((1 - fpr) * clean.size()))];
  size_t tp = 0;
  for (double v : spun) tp += v > thr;
  return spun.empty() ? 0 : (double)tp / spun.size();
}

TEST(FiltersSpun, DISABLED_TuningSplit) {
  for (Lang lang : {Lang::En, Lang::Zh}) {
    std::printf("[spun %s] tuning: recall at 1 %% false positives (own threshold) rate 0.30 %.3f, rate 0.15 %.3f\n",
                lang == Lang::Zh ? "zh" : "en", recall_at_fpr(lang, 0.3, 1000, 5077, 0.01),
                recall_at_fpr(lang, 0.15, 1000, 5099, 0.01));
    const char* tag = lang == Lang::Zh ? "zh" : "en";
    report(std::string(tag) + " rate=0.30", evaluate(lang, 0.3, 1000, 5077, "", 1, 0), "tuning");
    report(std::string(tag) + " rate=0.15", evaluate(lang, 0.15, 1000, 5099, "", 1, 0), "tuning");
    report(std::string(tag) + " 3-passage documents rate=0.30", evaluate(lang, 0.3, 60, 5177, "", 3, 0), "tuning");
  }
}

TEST(FiltersSpun, TorturedPhraseLexicon) {
  Document d;
  d.lang = Lang::En;
  d.text = "Recent work in counterfeit consciousness shows that profound learning models trained on colossal "
           "information can outperform an irregular woodland on many benchmark tasks used in the field today.";
  Decision r = check_spun(d, test_config());
  EXPECT_FALSE(r.keep);
  EXPECT_EQ(r.reason, "spun.tortured_phrases");
  Document ok;
  ok.lang = Lang::En;
  ok.text = "Recent work in artificial intelligence shows that deep learning models trained on big data can "
            "outperform a random forest on many benchmark tasks used in the field today.";
  EXPECT_TRUE(check_spun(ok, test_config()).keep);
}

TEST(FiltersSpun, SubstitutionScriptChangesWords) {
  std::string clean = "And God said, Let there be light: and there was light. And God saw the light, that it was good.";
  std::string spun = make_spun_copy(clean, Lang::En, 1.0, 1);
  EXPECT_NE(spun, clean);
  EXPECT_EQ(make_spun_copy(clean, Lang::En, 0.0, 1), clean);
  std::string zh = "我们需要认真学习先进的技术，提高工作效率，促进经济发展。";
  EXPECT_NE(make_spun_copy(zh, Lang::Zh, 1.0, 3), zh);
}

TEST(FiltersSpun, ShortTextIsNotScored) {
  Document d;
  d.lang = Lang::En;
  d.text = "Short note.";
  EXPECT_TRUE(check_spun(d, test_config()).keep);
}

}  // namespace
}  // namespace veritas
