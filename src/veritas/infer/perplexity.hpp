#pragma once
// Perplexity of a model on a text: the general-ability check beside the truth evaluation
// (a fine-tuned model must not buy honesty by forgetting language). The ids are cut into
// consecutive windows of at most `window` positions (for_each_window), each run from an
// empty cache; within a window every token after the first position is scored by the
// model's probability of it given the positions before it. perplexity = exp(mean
// negative log-likelihood).
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

// Runs a long text through the model in consecutive windows of at most `window` positions,
// each from an empty cache and led by the model's BOS token where its tokenizer adds one
// (Gemma reads a text without it as a broken model would). visit(win, len, logits) per
// window: win[0..len) its tokens (BOS included), logits row t the model's prediction of
// win[t + 1]. on_window(done, total) after each window. A last window of a single
// position (no BOS, one token left) is not visited.
void for_each_window(Engine& engine, const std::vector<int32_t>& ids, int window,
                     const std::function<void(const int32_t* win, int len, const float* logits)>& visit,
                     const std::function<void(int, int)>& on_window = {});

// -log softmax(logits)[target] computed in double (one row of vocab logits).
double token_nll(const float* logits, int vocab, int32_t target);

}  // namespace veritas::infer
