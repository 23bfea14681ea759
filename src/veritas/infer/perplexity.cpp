#include "veritas/infer/perplexity.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "veritas/util/error.hpp"

namespace veritas::infer {

double PerplexityResult::perplexity() const { return std::exp(mean_nll()); }

double token_nll(const float* logits, int vocab, int32_t target) {
  check(target >= 0 && target < vocab, "perplexity: token id " + std::to_string(target) + " is outside the vocabulary");
  float mx = logits[0];
  for (int v = 1; v < vocab; ++v) mx = std::max(mx, logits[v]);
  double sum = 0;
  for (int v = 0; v < vocab; ++v) sum += std::exp((double)logits[v] - mx);
  return std::log(sum) - ((double)logits[target] - mx);
}

PerplexityResult perplexity(Engine& engine, const std::vector<int32_t>& ids, int window,
                            const std::function<void(int, int)>& on_window) {
  check(window >= 2, "perplexity: the window must hold at least 2 tokens");
  check(ids.size() >= 2, "perplexity: the text has fewer than 2 tokens");
  const int V = engine.config().vocab_size;
  const int64_t n = (int64_t)ids.size();
  const int total = (int)((n + window - 1) / window);
  PerplexityResult r;
  std::vector<float> logits;
  for (int64_t start = 0; start < n; start += window) {
    const int len = (int)std::min<int64_t>(window, n - start);
    if (len >= 2) {
      logits.resize((size_t)len * V);
      KVCache cache = engine.new_cache(len);
      engine.forward(cache, ids.data() + start, len, logits.data(), true);
      for (int t = 0; t + 1 < len; ++t) r.nll_sum += token_nll(logits.data() + (size_t)t * V, V, ids[start + t + 1]);
      r.tokens_scored += len - 1;
      r.windows++;
    }
    if (on_window) on_window((int)(start / window) + 1, total);
  }
  return r;
}

}  // namespace veritas::infer
