// Spun-text detector: held-out precision/recall on clean passages and spun copies made by
// the substitution script. The held-out passages never enter the reference statistics
// nor the tuning (see spun.cpp), so these figures are out-of-sample.
#include <gtest/gtest.h>

#include <cstdio>

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

Eval evaluate(Lang lang, double rate, int passages, uint64_t seed) {
  SpunConfig cfg = test_config();
  const SpunModel& m = SpunModel::get(cfg);
  Eval e;
  auto held = spun_eval_passages(lang, 1, passages);
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

void report(const char* name, const Eval& e) {
  double recall = e.spun ? (double)e.tp / e.spun : 0, fpr = e.clean ? (double)e.fp / e.clean : 0;
  double precision = e.tp + e.fp ? (double)e.tp / (e.tp + e.fp) : 0;
  std::printf("[spun %s] held-out: clean %d (false positives %d, rate %.3f), spun %d (detected %d, recall %.3f), "
              "precision %.3f\n",
              name, e.clean, e.fp, fpr, e.spun, e.tp, recall, precision);
}

TEST(FiltersSpun, EnglishHeldOut) {
  Eval e30 = evaluate(Lang::En, 0.3, 400, 77);
  report("en rate=0.30", e30);
  Eval e15 = evaluate(Lang::En, 0.15, 400, 99);
  report("en rate=0.15", e15);
  ASSERT_GT(e30.clean, 200);
  // Measured: 1.0% false positives, recall 0.58 at rate 0.30 and 0.21 at 0.15 -- short
  // of the 0.9 target (docs/curation-filters.md). The bounds below guard against
  // regressions, not the target.
  EXPECT_LE((double)e30.fp / e30.clean, 0.025);
  EXPECT_GE((double)e30.tp / e30.spun, 0.50);
}

TEST(FiltersSpun, ChineseHeldOut) {
  Eval e30 = evaluate(Lang::Zh, 0.3, 400, 7);
  report("zh rate=0.30", e30);
  Eval e15 = evaluate(Lang::Zh, 0.15, 400, 9);
  report("zh rate=0.15", e15);
  ASSERT_GT(e30.clean, 100);
  // Measured: 1.1% false positives, recall 0.20 at rate 0.30 and 0.06 at 0.15 (was 0.07
  // at 0.30 before the character-pair features and length-scaled document features):
  // the Chinese reference text (fortunes-zh, ~2 MB) is small and there is no Chinese
  // synonym resource in Debian. Still far from usable.
  EXPECT_LE((double)e30.fp / e30.clean, 0.03);
  EXPECT_GE((double)e30.tp / e30.spun, 0.15);
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
