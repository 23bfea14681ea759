#pragma once
// Token sampling: temperature (0 = greedy), top-k, top-p (nucleus), seeded RNG so a
// run is reproducible. Stop conditions (tokens, strings, max tokens) live here too, in
// SamplingOptions, and are applied by Engine::generate.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "veritas/util/rng.hpp"

namespace veritas::infer {

struct SamplingOptions {
  float temperature = 0.8f;  // <= 0: greedy (argmax, lowest id on ties)
  int top_k = 0;             // keep the k most likely tokens; 0 = off
  float top_p = 1.0f;        // keep the smallest set whose mass reaches top_p; 1 = off
  uint64_t seed = 0;
  int max_tokens = 256;
  std::vector<int32_t> stop_tokens;      // generation ends when one is sampled (not emitted)
  std::vector<std::string> stop_strings;  // ends when the decoded text contains one (cut before it)
  bool stop_at_end_tokens = true;        // also stop at <|endoftext|> and <|end|> if the tokenizer has them
  // Added to these tokens' logits before anything else (OpenAI's logit_bias); a negative
  // bias on the end token makes replies longer.
  std::vector<std::pair<int32_t, float>> logit_bias;
};

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& opt) : opt_(opt), rng_(opt.seed) {}
  Sampler(const SamplingOptions& opt, uint64_t seed) : opt_(opt), rng_(seed) {}
  // Draws one token id from logits[0..n). logits are not modified.
  int32_t sample(const float* logits, int n);
  // The distribution sample() draws from after temperature, top-k and top-p: (id, prob)
  // pairs, most likely first, probabilities summing to 1. Greedy gives one pair.
  std::vector<std::pair<int32_t, float>> distribution(const float* logits, int n);
  Rng& rng() { return rng_; }

 private:
  void select(const float* logits, int n);  // fills cand_ (sorted, normalized); logits already biased
  const float* biased(const float* logits, int n);  // logits, or a copy with logit_bias added; checks n > 0
  SamplingOptions opt_;
  Rng rng_;
  std::vector<std::pair<int32_t, float>> cand_;
  std::vector<int32_t> idx_;
  std::vector<float> prob_;
  std::vector<float> biased_;
};

int32_t argmax(const float* logits, int n);

}  // namespace veritas::infer
