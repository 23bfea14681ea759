#include "veritas/selfplay/policy_loss.hpp"

#include <algorithm>
#include <cmath>

#include "veritas/util/error.hpp"

namespace veritas::selfplay {

PolicyLossStats grpo_loss(const float* logp, const float* old_logp, const float* ref_logp, const float* advantage,
                          const float* weight, int64_t n, const PolicyLossConfig& cfg, float* dlogp) {
  check(cfg.clip_eps > 0 && cfg.clip_eps < 1, "clip range must lie in (0, 1)");
  check(cfg.kl_beta >= 0, "KL weight must not be negative");
  check(cfg.kl_beta == 0 || ref_logp != nullptr, "a KL term needs the reference model's log-probabilities");
  PolicyLossStats st;
  double wsum = 0;
  for (int64_t i = 0; i < n; ++i) {
    dlogp[i] = 0.0f;
    const double w = weight[i];
    if (w == 0) continue;
    const double A = advantage[i];
    const double r = std::exp((double)logp[i] - (double)old_logp[i]);
    const double rc = std::clamp(r, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps);
    const double unclipped = r * A, clipped = rc * A;
    // The minimum picks the clipped term only when it is strictly smaller; then the
    // surrogate is constant in logp and passes no gradient.
    const bool pass = unclipped <= clipped;
    const double s = pass ? unclipped : clipped;
    double g = pass ? -A * r : 0.0;
    double kl = 0;
    if (cfg.kl_beta > 0) {
      const double d = (double)ref_logp[i] - (double)logp[i];
      kl = std::exp(d) - d - 1.0;
      g += cfg.kl_beta * (1.0 - std::exp(d));
    }
    st.surrogate += w * s;
    st.kl += w * kl;
    st.loss += w * (-s + cfg.kl_beta * kl);
    if (!pass) st.clipped += std::abs(w);
    wsum += std::abs(w);
    dlogp[i] = (float)(w * g);
  }
  st.clipped_weight = st.clipped;
  st.weight = wsum;
  if (wsum > 0) st.clipped /= wsum;
  return st;
}

}  // namespace veritas::selfplay
