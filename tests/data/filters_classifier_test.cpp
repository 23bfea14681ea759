// Learned quality score: train a small fastText model on labelled JSONL (good = clean
// Debian text, bad = boilerplate / spam / shuffled word salad made from other passages),
// then score held-out documents. Also the bad-input errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "veritas/data/classifier.hpp"
#include "veritas/data/spun.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"

namespace veritas {
namespace {

std::string bad_text(const std::string& clean, Rng& r) {
  // Word salad with spam residue: the words of a clean passage shuffled, links and promos.
  std::vector<std::string> w;
  size_t p = 0;
  while (p < clean.size()) {
    size_t e = clean.find(' ', p);
    if (e == std::string::npos) e = clean.size();
    if (e > p) w.push_back(clean.substr(p, e - p));
    p = e + 1;
  }
  for (size_t i = w.size(); i > 1; --i) std::swap(w[i - 1], w[r.below(i)]);
  std::string out = "CLICK HERE buy now ";
  for (size_t i = 0; i < w.size(); ++i) {
    out += w[i] + " ";
    if (i % 9 == 0) out += "http://deal" + std::to_string(r.below(100)) + ".example.com ";
  }
  return out + " subscribe share login read more";
}

TEST(FiltersClassifier, TrainsAndSeparatesHeldOut) {
  fs::path dir = make_temp_dir("veritas-clf-test");
  auto train = spun_eval_passages(Lang::En, 0, 300);   // tuning split for training
  auto test = spun_eval_passages(Lang::En, 1, 200);    // held-out split for scoring
  Rng r(3);
  {
    std::ofstream f(dir / "train.jsonl");
    for (size_t i = 0; i < train.size(); ++i) {
      f << nlohmann::json{{"text", train[i]}, {"label", "good"}}.dump() << "\n";
      f << nlohmann::json{{"text", bad_text(train[(i + 7) % train.size()], r)}, {"label", 0}}.dump() << "\n";
    }
  }
  ClassifierTrainOptions opt;
  opt.input = (dir / "train.jsonl").string();
  opt.output = (dir / "model.bin").string();
  opt.epochs = 5;
  opt.dim = 16;
  opt.buckets = 20000;
  opt.threads = 1;
  auto summary = train_quality_classifier(opt);
  EXPECT_EQ(summary["examples"].get<int>(), (int)train.size() * 2);
  ASSERT_TRUE(fs::exists(opt.output));

  QualityClassifier clf(opt.output);
  int tp = 0, tn = 0;
  for (size_t i = 0; i < test.size(); ++i) {
    tn += clf.prob_good(test[i]) >= 0.5;
    tp += clf.prob_good(bad_text(test[i], r)) < 0.5;
  }
  double acc_good = (double)tn / test.size(), acc_bad = (double)tp / test.size();
  std::printf("[classifier] held-out: good kept %.3f, bad dropped %.3f (%zu each)\n", acc_good, acc_bad, test.size());
  EXPECT_GE(acc_good, 0.9);
  EXPECT_GE(acc_bad, 0.9);

  ClassifierConfig cfg;
  cfg.model = opt.output;
  cfg.threshold = 0.5;
  Document d;
  d.text = bad_text(test[0], r);
  Decision dec = check_classifier(d, cfg);
  EXPECT_FALSE(dec.keep);
  EXPECT_EQ(dec.reason, "classifier.low_score");
  fs::remove_all(dir);
}

TEST(FiltersClassifier, BadInputIsAClearError) {
  fs::path dir = make_temp_dir("veritas-clf-bad");
  {
    std::ofstream f(dir / "bad.jsonl");
    f << "{\"text\": \"fine\", \"label\": \"good\"}\n{\"text\": 3}\n";
  }
  ClassifierTrainOptions opt;
  opt.input = (dir / "bad.jsonl").string();
  opt.output = (dir / "m.bin").string();
  try {
    train_quality_classifier(opt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(QualityClassifier((dir / "missing.bin").string()), Error);
  EXPECT_EQ(classifier_tokens("Hello 世界\nX"), "hello  世  界  x");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace veritas
