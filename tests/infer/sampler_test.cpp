// Sampler: greedy, seeded determinism, temperature / top-k / top-p on hand-made
// distributions, and the streamed text with stop strings.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "veritas/infer/sampler.hpp"
#include "veritas/infer/text_stream.hpp"
#include "veritas/util/error.hpp"

using namespace veritas::infer;

static std::vector<float> log_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back((float)std::log(x));
  return l;
}

static std::map<int32_t, float> as_map(const std::vector<std::pair<int32_t, float>>& d) {
  std::map<int32_t, float> m;
  for (auto& [id, p] : d) m[id] = p;
  return m;
}

TEST(Sampler, GreedyTakesArgmaxLowestIdOnTies) {
  SamplingOptions o;
  o.temperature = 0;
  Sampler s(o);
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(s.sample(l.data(), 4), 1);
  auto d = s.distribution(l.data(), 4);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].first, 1);
}

TEST(Sampler, SameSeedSameTokens) {
  std::vector<float> l(1000);
  for (int i = 0; i < 1000; ++i) l[i] = std::sin(i * 0.37f) * 3;
  for (auto [k, p] : std::vector<std::pair<int, float>>{{0, 1.0f}, {40, 1.0f}, {0, 0.9f}, {50, 0.8f}}) {
    SamplingOptions o;
    o.temperature = 1.0f;
    o.top_k = k;
    o.top_p = p;
    o.seed = 42;
    Sampler a(o), b(o);
    o.seed = 43;
    Sampler c(o);
    std::vector<int32_t> sa, sb, sc;
    for (int i = 0; i < 200; ++i) {
      sa.push_back(a.sample(l.data(), 1000));
      sb.push_back(b.sample(l.data(), 1000));
      sc.push_back(c.sample(l.data(), 1000));
    }
    EXPECT_EQ(sa, sb);
    EXPECT_NE(sa, sc);
  }
}

TEST(Sampler, TopKAndTopPOnHandMadeDistribution) {
  auto l = log_probs({0.05, 0.5, 0.1, 0.2, 0.15});
  SamplingOptions o;
  o.temperature = 1.0f;
  {
    o.top_k = 2;
    auto m = as_map(Sampler(o).distribution(l.data(), 5));
    ASSERT_EQ(m.size(), 2u);
    EXPECT_NEAR(m[1], 0.5 / 0.7, 1e-6);
    EXPECT_NEAR(m[3], 0.2 / 0.7, 1e-6);
  }
  {
    // Nucleus 0.6: 0.5 (mass before 0) then 0.2 (mass before 0.5 < 0.6); stop at 0.7.
    o.top_k = 0;
    o.top_p = 0.6f;
    auto m = as_map(Sampler(o).distribution(l.data(), 5));
    ASSERT_EQ(m.size(), 2u);
    EXPECT_NEAR(m[1], 0.5 / 0.7, 1e-6);
    EXPECT_NEAR(m[3], 0.2 / 0.7, 1e-6);
  }
  {
    o.top_p = 0.45f;  // the first token alone (0.5) reaches it
    auto d = Sampler(o).distribution(l.data(), 5);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].first, 1);
  }
  {
    o.top_p = 0.86f;  // 0.5 + 0.2 + 0.15 = 0.85 < 0.86: the 0.1 token is needed too
    auto m = as_map(Sampler(o).distribution(l.data(), 5));
    EXPECT_EQ(m.size(), 4u);
    EXPECT_EQ(m.count(0), 0u);
  }
  {
    o.top_k = 3;  // top-k first (0.5, 0.2, 0.15 -> renormalized), then top-p 0.7 of that
    o.top_p = 0.7f;
    auto m = as_map(Sampler(o).distribution(l.data(), 5));
    ASSERT_EQ(m.size(), 2u);  // 0.5/0.85 = 0.588 < 0.7, then 0.2/0.85 reaches 0.82
    EXPECT_NEAR(m[1], 0.5 / 0.7, 1e-6);
  }
  {
    o.top_k = 0;
    o.top_p = 1.0f;
    o.temperature = 2.0f;  // p^(1/2), renormalized
    auto m = as_map(Sampler(o).distribution(l.data(), 5));
    double z = std::sqrt(0.05) + std::sqrt(0.5) + std::sqrt(0.1) + std::sqrt(0.2) + std::sqrt(0.15);
    EXPECT_NEAR(m[1], std::sqrt(0.5) / z, 1e-6);
    EXPECT_NEAR(m[0], std::sqrt(0.05) / z, 1e-6);
  }
}

// logit_bias adds to the logits before temperature and truncation: a bias b multiplies a
// token's weight by exp(b / T); greedy follows the biased argmax; the caller's logits stay.
TEST(Sampler, LogitBiasShiftsTheDistribution) {
  auto l = log_probs({0.05, 0.5, 0.1, 0.2, 0.15});
  const auto original = l;
  SamplingOptions o;
  o.temperature = 0;
  o.logit_bias = {{1, -1.0f}, {3, (float)std::log(4.0)}};  // 0.5/e = 0.18 < 0.2 * 4 = 0.8
  EXPECT_EQ(Sampler(o).sample(l.data(), 5), 3);
  o.temperature = 2.0f;
  auto m = as_map(Sampler(o).distribution(l.data(), 5));
  const double w[5] = {std::sqrt(0.05), std::sqrt(0.5 * std::exp(-1.0)), std::sqrt(0.1), std::sqrt(0.8), std::sqrt(0.15)};
  const double z = w[0] + w[1] + w[2] + w[3] + w[4];
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(m[i], w[i] / z, 1e-6) << i;
  EXPECT_EQ(l, original);
  o.logit_bias = {{5, 1.0f}};  // outside the vocabulary: an error, not a write past the end
  EXPECT_THROW(Sampler(o).sample(l.data(), 5), veritas::Error);
}

TEST(Sampler, EmpiricalFrequenciesMatchDistribution) {
  auto l = log_probs({0.05, 0.5, 0.1, 0.2, 0.15});
  for (auto [k, p] : std::vector<std::pair<int, float>>{{0, 1.0f}, {3, 1.0f}, {0, 0.8f}}) {
    SamplingOptions o;
    o.temperature = 1.0f;
    o.top_k = k;
    o.top_p = p;
    o.seed = 7;
    Sampler s(o);
    auto want = as_map(Sampler(o).distribution(l.data(), 5));
    const int n = 40000;
    std::map<int32_t, int> count;
    for (int i = 0; i < n; ++i) count[s.sample(l.data(), 5)]++;
    for (int id = 0; id < 5; ++id) {
      double f = count[id] / (double)n, q = want.count(id) ? want[id] : 0.0;
      EXPECT_NEAR(f, q, 4 * std::sqrt(q * (1 - q) / n) + 1e-9) << "k=" << k << " p=" << p << " id=" << id;
    }
  }
}

TEST(Sampler, NucleusBeyondFirstCandidates) {
  // Uniform over 8192 tokens: top-p 0.5 needs 4096 candidates (past the first 64 sorted).
  std::vector<float> l(8192, 0.0f);
  SamplingOptions o;
  o.temperature = 1.0f;
  o.top_p = 0.5f;
  auto d = Sampler(o).distribution(l.data(), 8192);
  EXPECT_EQ(d.size(), 4096u);
  EXPECT_EQ(d[0].first, 0);  // ties are ordered by id
  EXPECT_NEAR(d[0].second, 1.0 / 4096, 1e-7);
}

TEST(TextStream, HoldsBackStopPrefixesAndCuts) {
  TextStream ts(nullptr, {"</s>", "\n\n"});
  EXPECT_EQ(ts.push_bytes("Hello <"), "Hello ");  // "<" may begin "</s>"
  EXPECT_EQ(ts.push_bytes("b>"), "<b>");
  EXPECT_EQ(ts.push_bytes(" end\n"), " end");
  EXPECT_EQ(ts.push_bytes("x"), "\nx");
  EXPECT_EQ(ts.push_bytes("y</"), "y");
  EXPECT_EQ(ts.push_bytes("s> tail"), "");
  EXPECT_TRUE(ts.stopped());
  EXPECT_EQ(ts.text(), "Hello <b> end\nxy");
  EXPECT_EQ(ts.flush(), "");
}

TEST(TextStream, HoldsBackIncompleteUtf8) {
  TextStream ts(nullptr, {});
  std::string e = "\xC3\xA9";  // é
  EXPECT_EQ(ts.push_bytes("caf" + e.substr(0, 1)), "caf");
  EXPECT_EQ(ts.push_bytes(e.substr(1)), e.substr(1).insert(0, e.substr(0, 1)));
  std::string euro = "\xE2\x82\xAC";
  EXPECT_EQ(ts.push_bytes(euro.substr(0, 2)), "");
  EXPECT_EQ(ts.push_bytes(euro.substr(2)), euro);
  EXPECT_EQ(ts.push_bytes("\xF0\x9F"), "");
  // A character left unfinished at the end becomes U+FFFD: the stream's text stays valid
  // UTF-8 (JSON, terminals); so does a stray continuation byte mid-stream.
  EXPECT_EQ(ts.flush(), "\xEF\xBF\xBD");
  TextStream stray(nullptr, {});
  EXPECT_EQ(stray.push_bytes("a\x82" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(stray.text(), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(utf8_incomplete_tail("ab\xE2\x82"), 2u);
  EXPECT_EQ(utf8_incomplete_tail("ab\xE2\x82\xAC"), 0u);
  EXPECT_EQ(utf8_incomplete_tail("ab"), 0u);
}
