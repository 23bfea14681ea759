#include "veritas/tokenizer/train.hpp"

#include <algorithm>
#include <mutex>
#include <queue>
#include <unordered_map>

#include "veritas/tokenizer/pretokenize.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/thread_pool.hpp"

namespace veritas {

namespace {

using WordCounts = std::unordered_map<std::string, int64_t>;

void count_words(std::string_view text, WordCounts& counts) {
  bpe::PreTokenizer pt(text);
  std::string_view piece;
  std::string key;
  while (pt.next(piece)) {
    key.assign(piece);
    ++counts[key];
  }
}

bool has_ascii_digit(const std::string& w) {
  return std::any_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; });
}

inline uint64_t key_of(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

struct Cand {
  int64_t count;
  int32_t a, b;
  // max-heap: higher count first, then the smaller pair
  bool operator<(const Cand& o) const {
    if (count != o.count) return count < o.count;
    if (a != o.a) return a > o.a;
    return b > o.b;
  }
};

}  // namespace

struct BpeTrainer::Impl {
  WordCounts counts;
  int64_t total = 0;
  bool split_digits = false;
};

BpeTrainer::BpeTrainer() : impl_(std::make_unique<Impl>()) {}
BpeTrainer::~BpeTrainer() = default;

void BpeTrainer::set_split_digits(bool on) { impl_->split_digits = on; }
bool BpeTrainer::split_digits() const { return impl_->split_digits; }

void BpeTrainer::add_text(std::string_view text) { count_words(text, impl_->counts); }

void BpeTrainer::add_texts(const std::vector<std::string>& texts) {
  auto& pool = ThreadPool::global();
  std::mutex mu;
  pool.parallel_for((int64_t)texts.size(), [&](int64_t lo, int64_t hi) {
    WordCounts local;
    for (int64_t i = lo; i < hi; ++i) count_words(texts[i], local);
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [w, c] : local) impl_->counts[w] += c;
  });
}

size_t BpeTrainer::unique_words() const { return impl_->counts.size(); }

int64_t BpeTrainer::total_words() const {
  int64_t t = 0;
  for (auto& [w, c] : impl_->counts) t += c;
  return t;
}

Tokenizer BpeTrainer::train(int vocab_size, const std::vector<std::string>& specials, int64_t min_frequency,
                            bool progress) {
  const int n_special = (int)specials.size();
  check(vocab_size >= 256 + n_special, "vocab size " + std::to_string(vocab_size) + " is below the minimum " +
                                           std::to_string(256 + n_special) + " (256 bytes + " +
                                           std::to_string(n_special) + " special tokens)");
  check(min_frequency >= 1, "min frequency must be at least 1");
  const int target_tokens = vocab_size - n_special;

  // Words in sorted order, so the result does not depend on hash-map iteration order.
  std::vector<std::pair<std::string, int64_t>> sorted(impl_->counts.begin(), impl_->counts.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::vector<int32_t>> words(sorted.size());
  std::vector<int64_t> freq(sorted.size());
  for (size_t w = 0; w < sorted.size(); ++w) {
    freq[w] = sorted[w].second;
    // split_digits: a word with a digit keeps no symbols, so it adds no pairs and no merge
    // ever touches it (its bytes stay single-byte tokens when encoded).
    if (impl_->split_digits && has_ascii_digit(sorted[w].first)) continue;
    for (unsigned char c : sorted[w].first) words[w].push_back(c);
  }
  sorted.clear();
  sorted.shrink_to_fit();

  std::vector<std::string> token_bytes(256);
  std::unordered_map<std::string, int32_t> by_bytes;
  for (int b = 0; b < 256; ++b) {
    token_bytes[b] = std::string(1, (char)b);
    by_bytes[token_bytes[b]] = b;
  }

  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where;  // may hold stale word ids
  pair_count.reserve(1 << 16);
  for (uint32_t w = 0; w < words.size(); ++w) {
    const auto& s = words[w];
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      uint64_t k = key_of(s[i], s[i + 1]);
      pair_count[k] += freq[w];
      auto& list = where[k];
      if (list.empty() || list.back() != w) list.push_back(w);
    }
  }
  std::priority_queue<Cand> heap;
  for (auto& [k, c] : pair_count) heap.push({c, (int32_t)(k >> 32), (int32_t)(uint32_t)k});

  std::vector<std::pair<int32_t, int32_t>> merges;
  std::vector<uint32_t> stamp(words.size(), 0);
  std::unordered_map<uint64_t, int64_t> delta;
  std::vector<int32_t> merged_word;
  std::unique_ptr<Progress> bar;
  if (progress) bar = std::make_unique<Progress>("bpe merges", target_tokens - 256, "merges");
  int next_id = 256;
  uint32_t iter = 0;
  while (next_id < target_tokens && !heap.empty()) {
    Cand top = heap.top();
    heap.pop();
    uint64_t k = key_of(top.a, top.b);
    auto pc = pair_count.find(k);
    int64_t cur = pc == pair_count.end() ? 0 : pc->second;
    if (cur != top.count) {  // stale: re-queue with the current count
      if (cur > 0) heap.push({cur, top.a, top.b});
      continue;
    }
    if (cur < min_frequency) break;

    std::string joined = token_bytes[top.a] + token_bytes[top.b];
    int32_t z;
    auto found = by_bytes.find(joined);
    if (found != by_bytes.end()) {
      z = found->second;  // another merge already made these bytes: reuse the token
    } else {
      z = next_id++;
      token_bytes.push_back(joined);
      by_bytes.emplace(joined, z);
    }
    merges.emplace_back(top.a, top.b);
    ++iter;

    std::vector<uint32_t> list = std::move(where[k]);
    where.erase(k);
    delta.clear();
    for (uint32_t w : list) {
      if (stamp[w] == iter) continue;
      stamp[w] = iter;
      auto& s = words[w];
      merged_word.clear();
      bool changed = false;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == top.a && s[i + 1] == top.b) {
          merged_word.push_back(z);
          i += 2;
          changed = true;
        } else {
          merged_word.push_back(s[i++]);
        }
      }
      if (!changed) continue;
      const int64_t f = freq[w];
      for (size_t i = 0; i + 1 < s.size(); ++i) delta[key_of(s[i], s[i + 1])] -= f;
      for (size_t i = 0; i + 1 < merged_word.size(); ++i) {
        uint64_t nk = key_of(merged_word[i], merged_word[i + 1]);
        delta[nk] += f;
        if (merged_word[i] == z || merged_word[i + 1] == z) {
          auto& wl = where[nk];
          if (wl.empty() || wl.back() != w) wl.push_back(w);
        }
      }
      s.swap(merged_word);
    }
    for (auto& [dk, d] : delta) {
      if (d == 0) continue;
      int64_t& c = pair_count[dk];
      c += d;
      if (d > 0) heap.push({c, (int32_t)(dk >> 32), (int32_t)(uint32_t)dk});
      if (c <= 0) {
        pair_count.erase(dk);
        where.erase(dk);
      }
    }
    if (bar) bar->update(next_id - 256);
  }
  if (bar) bar->finish(std::to_string(merges.size()) + " merges, " + std::to_string(next_id) + " tokens");

  std::vector<AddedToken> added;
  for (const auto& s : specials) {
    check(!by_bytes.count(s), "special token \"" + s + "\" is also a learned token");
    added.push_back({(int32_t)token_bytes.size(), s, true});
    token_bytes.emplace_back();  // the id belongs to the added token only
  }
  return Tokenizer::from_bpe(token_bytes, merges, added);
}

std::vector<std::string> default_special_tokens() {
  return {kEndOfText, kSystem, kUser, kAssistant, kEndOfTurn};
}

}  // namespace veritas
