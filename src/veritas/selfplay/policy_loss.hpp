#pragma once
// The group-relative policy-gradient loss (GRPO-style), as a function of the sampled
// tokens' log-probabilities, so that Model::forward_backward_logprob can back-propagate it.
//
// For each completion token n (weight w_n > 0; prompt and padding positions have w_n = 0):
//   r_n   = exp(logp_n - old_n)                       importance ratio vs the sampling policy
//   s_n   = min(r_n A_n, clip(r_n, 1 - eps, 1 + eps) A_n)   clipped surrogate
//   kl_n  = exp(ref_n - logp_n) - (ref_n - logp_n) - 1      k3 estimate of KL(pi || pi_ref)
//   loss  = sum_n w_n (-s_n + beta kl_n)
// with w_n = 1 / (G |o_i|) for token n of sample i (G samples in the update, |o_i| tokens
// in sample i): the mean over samples of the mean over each sample's tokens.
//
//   d loss / d logp_n = w_n (-A_n r_n [unclipped term is the minimum] + beta (1 - exp(ref_n - logp_n)))
//
// tests/reference/grpo_ref.py computes the same loss with PyTorch autograd.
#include <cstdint>

namespace veritas::selfplay {

struct PolicyLossConfig {
  double clip_eps = 0.2;  // PPO clip range
  double kl_beta = 0.0;   // weight of the KL term (0: no reference model needed)
};

struct PolicyLossStats {
  double loss = 0, surrogate = 0, kl = 0;  // weighted sums as in the formula
  double clipped = 0;                      // weight share of tokens whose gradient was clipped away
  double clipped_weight = 0, weight = 0;   // that share's numerator and denominator (sums of |w_n|)
};

// ref may be nullptr when kl_beta == 0. dlogp receives d loss / d logp for every position.
PolicyLossStats grpo_loss(const float* logp, const float* old_logp, const float* ref_logp, const float* advantage,
                          const float* weight, int64_t n, const PolicyLossConfig& cfg, float* dlogp);

}  // namespace veritas::selfplay
