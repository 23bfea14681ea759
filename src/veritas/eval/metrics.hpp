#pragma once
// Metrics of the truth evaluation (formulas in docs/eval.md). Pure functions over
// scored answers, so each is tested against hand-computed values.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/verify/task.hpp"

namespace veritas::eval {

// The SimpleQA three-way split (plus answers the protocol parser could not read).
struct Split {
  int64_t correct = 0, wrong = 0, abstained = 0, malformed = 0;
  void add(Verdict v);
  int64_t total() const { return correct + wrong + abstained + malformed; }
  int64_t attempted() const { return correct + wrong; }
  double rate(int64_t count) const { return total() ? (double)count / (double)total() : 0.0; }
  // correct / (correct + wrong); nullopt when nothing was attempted.
  std::optional<double> accuracy_attempted() const;
  // SimpleQA's F-score: harmonic mean of the correct rate and accuracy when attempted.
  std::optional<double> f_score() const;
  nlohmann::json to_json() const;
};

// One attempted answer that carried a confidence: was it right, how sure was it.
struct Judgement {
  double confidence;  // in [0, 1]
  bool correct;
};

struct CalibrationBin {
  double lo = 0, hi = 0;
  int64_t count = 0;
  double mean_confidence = 0, accuracy = 0;  // 0 when the bin is empty
};

struct Calibration {
  int64_t count = 0;
  double ece = 0;    // sum_b (n_b / N) |acc_b - conf_b|
  double brier = 0;  // (1/N) sum_i (c_i - y_i)^2
  std::vector<CalibrationBin> bins;
  nlohmann::json to_json() const;
};

// Equal-width bins over [0, 1]; bin b holds [b/B, (b+1)/B), the last one also holds 1.
// nullopt when there are no judgements.
std::optional<Calibration> calibration(const std::vector<Judgement>& js, int bins = 15);

struct RiskCoverage {
  int64_t count = 0;
  // Point i (1-based) keeps the i most confident answers: coverage i/N, risk = expected
  // fraction wrong among them (ties in confidence are ranked at random, so within a tie
  // group the expected errors grow linearly).
  std::vector<double> coverage, risk;
  double aurc = 0;          // (1/N) sum_i risk_i
  double aurc_optimal = 0;  // same errors, ranked perfectly (all correct answers first)
  nlohmann::json to_json(size_t max_points = 200) const;
};
std::optional<RiskCoverage> risk_coverage(const std::vector<Judgement>& js);

// Unbiased pass@k from n samples of which c are correct (Chen et al. 2021):
// 1 - C(n-c, k) / C(n, k), computed as a product so it never overflows.
double pass_at_k(int64_t n, int64_t c, int64_t k);

// One sample of a task for majority voting: the normalized final answer it gave and how
// it was scored.
struct Vote {
  std::string key;
  Verdict verdict;
};
// The chance that the most frequent answer is correct, breaking ties between equally
// frequent answers uniformly at random (so a 1-1 split between a right and a wrong
// answer counts 0.5).
double majority_correct(const std::vector<Vote>& votes);

// The key an answer votes with: abstentions vote together, malformed answers vote
// together, answers saying the question has no answer vote together, otherwise the
// final answer's value as the protocol parser reads it, case- and space-normalized.
std::string vote_key(const std::string& answer_text, Verdict verdict);

}  // namespace veritas::eval
