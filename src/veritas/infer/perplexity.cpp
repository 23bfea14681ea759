#include "veritas/infer/perplexity.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "veritas/kernels/vexp.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"

namespace veritas::infer {

double PerplexityResult::perplexity() const { return std::exp(mean_nll()); }

double token_nll(const float* logits, int vocab, int32_t target) {
  check(target >= 0 && target < vocab, "perplexity: token id " + std::to_string(target) + " is outside the vocabulary");
  const float mx = kernels::max_of(logits, vocab);
  return std::log((double)kernels::exp_shift_sum(nullptr, logits, vocab, mx)) - ((double)logits[target] - mx);
}

PerplexityResult perplexity(Engine& engine, const std::vector<int32_t>& ids, int window,
                            const std::function<void(int, int)>& on_window) {
  check(window >= 2, "perplexity: the window must hold at least 2 tokens");
  check(ids.size() >= 2, "perplexity: the text has fewer than 2 tokens");
  const int V = engine.config().vocab_size;
  PerplexityResult r;
  for_each_window(
      engine, ids, window,
      [&](const int32_t* win, int len, const float* logits) {
        for (int t = 0; t + 1 < len; ++t) r.nll_sum += token_nll(logits + (size_t)t * V, V, win[t + 1]);
        r.tokens_scored += len - 1;
        r.windows++;
      },
      on_window);
  return r;
}

void for_each_window(Engine& engine, const std::vector<int32_t>& ids, int window,
                     const std::function<void(const int32_t*, int, const float*)>& visit,
                     const std::function<void(int, int)>& on_window) {
  const std::optional<int32_t> bos = engine.tokenizer() ? engine.tokenizer()->bos_id() : std::nullopt;
  const int64_t n = (int64_t)ids.size(), step = window - (bos ? 1 : 0);
  check(step >= 1, "perplexity: the window must hold at least 2 positions");
  const int V = engine.config().vocab_size;
  const int total = (int)((n + step - 1) / step);
  std::vector<int32_t> win;
  std::vector<float> logits;
  for (int64_t start = 0; start < n; start += step) {
    win.clear();
    if (bos) win.push_back(*bos);
    win.insert(win.end(), ids.begin() + start, ids.begin() + std::min(n, start + step));
    const int len = (int)win.size();
    if (len >= 2) {
      logits.resize((size_t)len * V);
      KVCache cache = engine.new_cache(len);
      engine.forward(cache, win.data(), len, logits.data(), true);
      visit(win.data(), len, logits.data());
    }
    if (on_window) on_window((int)(start / step) + 1, total);
  }
}

}  // namespace veritas::infer
