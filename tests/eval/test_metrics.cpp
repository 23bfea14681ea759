// Metric functions against values computed by hand (docs/eval.md has the formulas).
#include <gtest/gtest.h>

#include "veritas/eval/metrics.hpp"
#include "veritas/util/error.hpp"

using namespace veritas;
using namespace veritas::eval;

TEST(EvalMetrics, SplitRatesAndFScore) {
  Split s;
  for (Verdict v : {Verdict::Correct, Verdict::Correct, Verdict::Correct, Verdict::Wrong, Verdict::Abstained}) s.add(v);
  EXPECT_EQ(s.total(), 5);
  EXPECT_DOUBLE_EQ(s.rate(s.correct), 0.6);
  EXPECT_DOUBLE_EQ(*s.accuracy_attempted(), 0.75);
  // harmonic mean of 0.6 and 0.75 = 0.9 / 1.35
  EXPECT_NEAR(*s.f_score(), 2.0 / 3.0, 1e-12);
  Split none;
  none.add(Verdict::Abstained);
  none.add(Verdict::Malformed);
  EXPECT_FALSE(none.accuracy_attempted().has_value());
  EXPECT_DOUBLE_EQ(none.rate(none.malformed), 0.5);
}

TEST(EvalMetrics, EceAndBrierByHand) {
  // Bins of width 1/15: 0.95 -> bin 14, 0.05 -> bin 0, 0.5 -> bin 7.
  std::vector<Judgement> js = {{0.95, true}, {0.95, false}, {0.05, false}, {0.5, true}};
  auto cal = calibration(js, 15);
  ASSERT_TRUE(cal);
  EXPECT_EQ(cal->bins.size(), 15u);
  EXPECT_EQ(cal->bins[14].count, 2);
  EXPECT_EQ(cal->bins[0].count, 1);
  EXPECT_EQ(cal->bins[7].count, 1);
  EXPECT_DOUBLE_EQ(cal->bins[14].accuracy, 0.5);
  // ECE = 2/4*|0.5-0.95| + 1/4*|0-0.05| + 1/4*|1-0.5| = 0.225 + 0.0125 + 0.125
  EXPECT_NEAR(cal->ece, 0.3625, 1e-12);
  // Brier = (0.05^2 + 0.95^2 + 0.05^2 + 0.5^2) / 4
  EXPECT_NEAR(cal->brier, 0.289375, 1e-12);
}

TEST(EvalMetrics, CalibrationEdges) {
  EXPECT_FALSE(calibration({}, 15));
  auto cal = calibration({{1.0, true}, {0.0, false}}, 15);
  ASSERT_TRUE(cal);
  EXPECT_EQ(cal->bins[14].count, 1);  // confidence 1 lands in the last bin
  EXPECT_EQ(cal->bins[0].count, 1);
  EXPECT_DOUBLE_EQ(cal->ece, 0.0);
  EXPECT_DOUBLE_EQ(cal->brier, 0.0);
  // Always sure and always wrong: worst case.
  auto bad = calibration({{1.0, false}, {1.0, false}}, 15);
  EXPECT_DOUBLE_EQ(bad->ece, 1.0);
  EXPECT_DOUBLE_EQ(bad->brier, 1.0);
  EXPECT_THROW(calibration({{1.5, true}}, 15), veritas::Error);
}

TEST(EvalMetrics, RiskCoverageByHand) {
  // Ranked: right, wrong, right, wrong -> risks 0, 1/2, 1/3, 2/4.
  auto rc = risk_coverage({{0.6, false}, {0.9, true}, {0.7, true}, {0.8, false}});
  ASSERT_TRUE(rc);
  ASSERT_EQ(rc->risk.size(), 4u);
  EXPECT_DOUBLE_EQ(rc->risk[0], 0.0);
  EXPECT_DOUBLE_EQ(rc->risk[1], 0.5);
  EXPECT_NEAR(rc->risk[2], 1.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(rc->risk[3], 0.5);
  EXPECT_DOUBLE_EQ(rc->coverage[3], 1.0);
  EXPECT_NEAR(rc->aurc, (0 + 0.5 + 1.0 / 3.0 + 0.5) / 4, 1e-12);
  // Perfect ranking of 2 right + 2 wrong: risks 0, 0, 1/3, 2/4.
  EXPECT_NEAR(rc->aurc_optimal, (1.0 / 3.0 + 0.5) / 4, 1e-12);
}

TEST(EvalMetrics, RiskCoverageTiesAreExpectedValues) {
  // Two answers with the same confidence, one wrong: whichever is kept first is a coin
  // flip, so the expected risk at coverage 1/2 is 0.5 (not 0 or 1 by input order).
  auto a = risk_coverage({{0.5, true}, {0.5, false}});
  auto b = risk_coverage({{0.5, false}, {0.5, true}});
  EXPECT_DOUBLE_EQ(a->risk[0], 0.5);
  EXPECT_DOUBLE_EQ(b->risk[0], 0.5);
  EXPECT_DOUBLE_EQ(a->aurc, 0.5);
  EXPECT_DOUBLE_EQ(a->aurc_optimal, 0.25);
  EXPECT_FALSE(risk_coverage({}));
}

TEST(EvalMetrics, PassAtKByHand) {
  EXPECT_DOUBLE_EQ(pass_at_k(5, 2, 1), 0.4);
  EXPECT_NEAR(pass_at_k(5, 2, 2), 1.0 - 3.0 / 10.0, 1e-12);      // 1 - C(3,2)/C(5,2)
  EXPECT_NEAR(pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0, 1e-12);   // 1 - C(7,5)/C(10,5)
  EXPECT_DOUBLE_EQ(pass_at_k(5, 0, 3), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(5, 3, 3), 1.0);
  EXPECT_DOUBLE_EQ(pass_at_k(4, 1, 4), 1.0);
  // Large n stays finite (binomials would overflow).
  EXPECT_NEAR(pass_at_k(2000, 1000, 1), 0.5, 1e-12);
  EXPECT_THROW(pass_at_k(3, 1, 4), veritas::Error);
}

TEST(EvalMetrics, MajorityByHand) {
  using V = Verdict;
  EXPECT_DOUBLE_EQ(majority_correct({{"a", V::Correct}, {"a", V::Correct}, {"b", V::Wrong}}), 1.0);
  EXPECT_DOUBLE_EQ(majority_correct({{"a", V::Correct}, {"b", V::Wrong}}), 0.5);
  EXPECT_DOUBLE_EQ(majority_correct({{"a", V::Wrong}, {"a", V::Wrong}, {"b", V::Correct}}), 0.0);
  EXPECT_DOUBLE_EQ(majority_correct({{"<abstained>", V::Abstained}, {"<abstained>", V::Abstained}, {"a", V::Correct}}), 0.0);
  EXPECT_NEAR(majority_correct({{"a", V::Correct}, {"b", V::Wrong}, {"c", V::Wrong}}), 1.0 / 3.0, 1e-12);
}

TEST(EvalMetrics, VoteKeyUsesFinalAnswerLine) {
  std::string a = vote_key("work here\nAnswer:  42   M.\nConfidence: 0.9\n", Verdict::Correct);
  EXPECT_EQ(a, vote_key("Answer: 42 m", Verdict::Correct));
  EXPECT_NE(a, vote_key("Answer: 43 m", Verdict::Wrong));
  EXPECT_EQ(vote_key("Answer: I don't know", Verdict::Abstained), "<abstained>");
  EXPECT_EQ(vote_key("blah", Verdict::Malformed), "<malformed>");
}
