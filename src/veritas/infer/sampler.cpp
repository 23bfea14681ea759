#include "veritas/infer/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "veritas/util/error.hpp"

namespace veritas::infer {

int32_t argmax(const float* logits, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;  // strict: the lowest id wins ties
  return best;
}

const float* Sampler::biased(const float* logits, int n) {
  check(n > 0, "sampler: empty logits");
  if (opt_.logit_bias.empty()) return logits;
  biased_.assign(logits, logits + n);
  for (auto [id, b] : opt_.logit_bias) {
    check(id >= 0 && id < n, "sampler: logit_bias names token " + std::to_string(id) + ", outside the vocabulary");
    biased_[id] += b;
  }
  return biased_.data();
}

void Sampler::select(const float* logits, int n) {
  cand_.clear();
  if (!(opt_.temperature > 0)) {
    cand_.emplace_back(argmax(logits, n), 1.0f);
    return;
  }
  float m = logits[argmax(logits, n)];
  check(std::isfinite(m), "sampler: logits are not finite");
  prob_.resize(n);
  const float inv_t = 1.0f / opt_.temperature;
  for (int i = 0; i < n; ++i) prob_[i] = std::exp((logits[i] - m) * inv_t);  // unnormalized
  auto more_likely = [&](int32_t a, int32_t b) { return prob_[a] > prob_[b] || (prob_[a] == prob_[b] && a < b); };

  idx_.resize(n);
  std::iota(idx_.begin(), idx_.end(), 0);
  int K = (opt_.top_k > 0 && opt_.top_k < n) ? opt_.top_k : n;
  if (K < n) {
    std::nth_element(idx_.begin(), idx_.begin() + K, idx_.end(), more_likely);
    idx_.resize(K);
  }
  double z = 0;
  for (int32_t i : idx_) z += prob_[i];
  if (!(opt_.top_p < 1.0f)) {
    std::sort(idx_.begin(), idx_.end(), more_likely);
    for (int32_t i : idx_) cand_.emplace_back(i, (float)(prob_[i] / z));
    return;
  }
  // Nucleus: sort only as many candidates as needed (64 first, then 8x more): the mass
  // is nearly always in the first few, and a full sort of the vocabulary costs more
  // than the rest of the step.
  const double target = std::max(0.0f, opt_.top_p) * z;
  int kk = std::min(K, 64);
  for (;;) {
    std::partial_sort(idx_.begin(), idx_.begin() + kk, idx_.end(), more_likely);
    double cum = 0;
    int keep = 0;
    bool reached = false;
    for (; keep < kk; ++keep) {
      if (keep > 0 && cum >= target) {
        reached = true;
        break;
      }
      cum += prob_[idx_[keep]];
    }
    if (cum >= target) reached = true;
    if (reached || kk == K) {
      for (int i = 0; i < keep; ++i) cand_.emplace_back(idx_[i], (float)(prob_[idx_[i]] / cum));
      return;
    }
    kk = std::min(K, kk * 8);
  }
}

std::vector<std::pair<int32_t, float>> Sampler::distribution(const float* logits, int n) {
  select(biased(logits, n), n);
  return cand_;
}

int32_t Sampler::sample(const float* logits, int n) {
  logits = biased(logits, n);
  if (!(opt_.temperature > 0)) return argmax(logits, n);
  if ((opt_.top_k <= 0 || opt_.top_k >= n) && !(opt_.top_p < 1.0f)) {
    // Full distribution: no sorting needed, scan the ids in order.
    float m = logits[argmax(logits, n)];
    check(std::isfinite(m), "sampler: logits are not finite");
    prob_.resize(n);
    const float inv_t = 1.0f / opt_.temperature;
    double z = 0;
    for (int i = 0; i < n; ++i) z += (prob_[i] = std::exp((logits[i] - m) * inv_t));
    double u = rng_.uniform() * z, cum = 0;
    int32_t last = 0;
    for (int i = 0; i < n; ++i) {
      if (prob_[i] <= 0) continue;
      cum += prob_[i];
      last = i;
      if (cum > u) return i;
    }
    return last;
  }
  select(logits, n);
  double u = rng_.uniform(), cum = 0;
  for (auto& [id, p] : cand_) {
    cum += p;
    if (cum > u) return id;
  }
  return cand_.back().first;
}

}  // namespace veritas::infer
