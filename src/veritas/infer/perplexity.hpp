#pragma once
// Perplexity of a model on a text: the general-ability check beside the truth evaluation
// (a fine-tuned model must not buy honesty by forgetting language). The ids are cut into
// consecutive windows of at most `window` tokens, each run from an empty cache; within a
// window every token after the first is scored by the model's probability of it given
// the tokens before it in the window. perplexity = exp(mean negative log-likelihood).
#include <cstdint>
#include <functional>
#include <vector>

#include "veritas/infer/engine.hpp"

namespace veritas::infer {

struct PerplexityResult {
  int64_t tokens_scored = 0;
  int windows = 0;
  double nll_sum = 0;  // sum of -log p(token | window prefix), natural log
  double mean_nll() const { return tokens_scored ? nll_sum / (double)tokens_scored : 0; }
  double perplexity() const;
};

// Throws Error when window < 2 or fewer than 2 ids are given. on_window(done, total) after
// each window (a progress bar).
PerplexityResult perplexity(Engine& engine, const std::vector<int32_t>& ids, int window,
                            const std::function<void(int, int)>& on_window = {});

// -log softmax(logits)[target] computed in double (one row of vocab logits).
double token_nll(const float* logits, int vocab, int32_t target);

}  // namespace veritas::infer
