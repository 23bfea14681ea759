#pragma once
// Rewards for verified answers and group-relative advantages (docs/selfplay.md).
//
//   correct +1, abstained 0, wrong -lambda, malformed -1
//   optional calibration: - brier_weight * (c - 1[correct])^2 for an answer that states
//   a confidence c (a proper scoring rule: the expected penalty is smallest at the true
//   probability of being right).
//
// Answering instead of abstaining pays exactly when p * 1 - (1 - p) * lambda > 0, i.e.
// when the chance p of being right exceeds lambda / (1 + lambda): 0.5 at lambda = 1,
// 0.75 at lambda = 3.
#include <vector>

#include "veritas/verify/task.hpp"

namespace veritas::selfplay {

struct RewardConfig {
  double correct = 1.0;
  double abstain = 0.0;
  double wrong_penalty = 1.0;  // lambda: a wrong answer scores -lambda
  double malformed = -1.0;
  double brier_weight = 0.0;   // 0 = no calibration term
};

double reward(const Score& s, const RewardConfig& cfg);
// The confidence above which answering pays: lambda / (1 + lambda).
double break_even_confidence(const RewardConfig& cfg);

// GRPO advantages within one group of k samples of the same question:
// a_i = (r_i - mean) / (std + eps), std the population standard deviation. A group whose
// rewards are all equal gets all zeros (nothing to learn from it).
std::vector<double> group_advantages(const std::vector<double>& rewards, double eps = 1e-4);

}  // namespace veritas::selfplay
