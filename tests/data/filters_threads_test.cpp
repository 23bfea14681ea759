// The filters run concurrently on different documents in curate: the same documents
// scored from 4 threads at once must get exactly the decisions and texts of a serial run.
#include <gtest/gtest.h>

#include <thread>

#include "veritas/data/pii.hpp"
#include "veritas/data/quality.hpp"
#include "veritas/data/spam.hpp"
#include "veritas/data/spun.hpp"
#include "veritas/util/rng.hpp"

namespace veritas {
namespace {

std::string run_all(const std::string& text, Lang lang) {
  Document d;
  d.text = text;
  d.lang = lang;
  SpunConfig sc;
  sc.cache_dir = VERITAS_BINARY_DIR "/cache";
  std::string out;
  for (Decision r : {check_quality(d, QualityConfig{}), check_spam(d, SpamConfig{}), check_spun(d, sc),
                     mask_pii(d, PiiConfig{})})
    out += r.reason + "|" + r.detail + ";";
  return out + d.text;
}

TEST(FiltersThreads, ConcurrentEqualsSerial) {
  std::vector<std::pair<std::string, Lang>> docs;
  for (Lang l : {Lang::En, Lang::Zh}) {
    auto p = spun_eval_passages(l, 1, 60);
    for (size_t i = 0; i < p.size(); ++i) {
      docs.emplace_back(p[i] + " mail me: x" + std::to_string(i) + "@example.com", l);
      docs.emplace_back(make_spun_copy(p[i], l, 0.3, i), l);
    }
  }
  std::vector<std::string> serial;
  for (auto& [t, l] : docs) serial.push_back(run_all(t, l));
  std::vector<std::string> par(docs.size());
  std::vector<std::thread> th;
  for (int w = 0; w < 4; ++w)
    th.emplace_back([&, w] {
      for (size_t i = w; i < docs.size(); i += 4) par[i] = run_all(docs[i].first, docs[i].second);
    });
  for (auto& t : th) t.join();
  for (size_t i = 0; i < docs.size(); ++i) EXPECT_EQ(par[i], serial[i]) << i;
}

}  // namespace
}  // namespace veritas

namespace veritas {
namespace {

// Arbitrary bytes (invalid UTF-8, truncated sequences, NULs), empty and huge inputs:
// every filter returns a decision, never crashes or hangs.
TEST(FiltersRobustness, ArbitraryInput) {
  Rng r(11);
  std::vector<std::string> inputs = {"", " ", "\n\n\n", "a", "\xe4\xb8", "\xff\xfe\xfd", std::string(3, '\0'),
                                     std::string(200000, 'a'), std::string(50000, '{'), "@@@@####",
                                     "+86 +86 +86 ++1 (((", "1.2.3.4.5.6.7.8.9", "::::::::", "上一篇"};
  for (int i = 0; i < 300; ++i) {
    std::string s(r.below(400), '\0');
    for (auto& c : s) c = (char)r.below(256);
    inputs.push_back(s);
  }
  std::string mix;
  for (int i = 0; i < 2000; ++i) mix += "word 词 13812345678 a@b.co 8.8.8.8 { ";
  inputs.push_back(mix);
  SpunConfig sc;
  sc.cache_dir = VERITAS_BINARY_DIR "/cache";
  for (const auto& t : inputs)
    for (Lang l : {Lang::En, Lang::Zh, Lang::Other}) {
      Document d;
      d.text = t;
      d.lang = l;
      check_quality(d, QualityConfig{});
      check_spam(d, SpamConfig{});
      check_spun(d, sc);
      Decision p = mask_pii(d, PiiConfig{});
      EXPECT_TRUE(p.keep || p.reason == "pii.too_many");
    }
}

}  // namespace
}  // namespace veritas
