#include "veritas/selfplay/reward.hpp"

#include <cmath>

#include "veritas/util/error.hpp"

namespace veritas::selfplay {

double reward(const Score& s, const RewardConfig& cfg) {
  double r = 0;
  switch (s.verdict) {
    case Verdict::Correct: r = cfg.correct; break;
    case Verdict::Abstained: r = cfg.abstain; break;
    case Verdict::Wrong: r = -cfg.wrong_penalty; break;
    case Verdict::Malformed: return cfg.malformed;  // no answer, so no confidence to score
  }
  if (cfg.brier_weight > 0 && s.confidence && s.verdict != Verdict::Abstained) {
    const double y = s.verdict == Verdict::Correct ? 1.0 : 0.0;
    const double c = *s.confidence;
    r -= cfg.brier_weight * (c - y) * (c - y);
  }
  return r;
}

double break_even_confidence(const RewardConfig& cfg) {
  check(cfg.wrong_penalty >= 0, "the wrong-answer penalty must not be negative");
  return cfg.wrong_penalty / (1.0 + cfg.wrong_penalty);
}

std::vector<double> group_advantages(const std::vector<double>& rewards, double eps) {
  std::vector<double> a(rewards.size(), 0.0);
  if (rewards.empty()) return a;
  double mean = 0;
  for (double r : rewards) mean += r;
  mean /= (double)rewards.size();
  double var = 0;
  for (double r : rewards) var += (r - mean) * (r - mean);
  const double sd = std::sqrt(var / (double)rewards.size());
  if (sd == 0) return a;
  for (size_t i = 0; i < rewards.size(); ++i) a[i] = (rewards[i] - mean) / (sd + eps);
  return a;
}

}  // namespace veritas::selfplay
