#pragma once
// Spun-text detection, internal: the constants, hashes and count tables of the
// reference statistics (see spun.hpp). Shared by the spun_*.cpp files only.
#define XXH_INLINE_ALL  // the same hash, inlined: a dozen hashes per word
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "veritas/data/hash_counter.hpp"
#include "veritas/data/quality.hpp"
#include "veritas/util/error.hpp"

namespace veritas::spun {

constexpr uint32_t kVersion = 31;  // bump when features, sources or splits change
// Token cells: unigram-frequency bucket (6) x token length (3, Chinese only) x left-pair
// state (kPair) x right-pair state (kPair) x synonym state (kSyn).
constexpr int kPair = 7;
constexpr int kSyn = 8;            // how much better a WordNet synonym fits (see token_cells)
constexpr uint64_t kMaxSyn = 10;   // synonyms tried per word (the most frequent)
constexpr uint32_t kFitPair = 1;   // a word whose pairs are seen this often is not tested
// English mixture evidence: the share of substituted tokens it tests for (see fit()).
constexpr double kMixRho = 0.003;
constexpr int kCells = 6 * 3 * kPair * kPair * kSyn;

constexpr auto mix = filters::mix64;
inline uint64_t hash_bytes(std::string_view s) { return XXH3_64bits(s.data(), s.size()) | 1; }
inline uint64_t pair_key(uint64_t a, uint64_t b) { return (mix(a) * 31 + b) | 1; }

inline bool is_han(uint32_t c) { return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF); }
inline bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Open-addressing map from a 64-bit hash (never 0) to a 32-bit count.
struct Table {
  std::vector<uint64_t> keys;
  std::vector<uint32_t> vals;
  size_t mask = 0, used = 0;
  Table() { init(1024); }
  void init(size_t cap) {
    keys.assign(cap, 0);
    vals.assign(cap, 0);
    mask = cap - 1;
    used = 0;
  }
  void prefetch(uint64_t k) const {
    size_t i = mix(k) & mask;
    __builtin_prefetch(&keys[i]);
    __builtin_prefetch(&vals[i]);
  }
  uint32_t get(uint64_t k) const {
    size_t i = mix(k) & mask;
    while (keys[i]) {
      if (keys[i] == k) return vals[i];
      i = (i + 1) & mask;
    }
    return 0;
  }
  void add(uint64_t k, uint32_t v) {
    if ((used + 1) * 2 > keys.size()) grow();
    size_t i = mix(k) & mask;
    while (keys[i] && keys[i] != k) i = (i + 1) & mask;
    if (!keys[i]) { keys[i] = k; ++used; }
    vals[i] += v;
  }
  void grow() {
    Table t;
    t.init(keys.size() * 2);
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i]) t.add(keys[i], vals[i]);
    *this = std::move(t);
  }
};

// Frozen count table for the large pair tables: built once from a list of keys (sorted
// and counted, so building needs no growing hash map), open addressing at load <= 0.6,
// 32-bit fingerprints and 32-bit counts (8 bytes a slot). The slot comes from the low
// bits of the mixed key and the fingerprint from its high bits, so a false match needs
// 31 + log2(capacity) equal bits.
struct CountTable {
  std::vector<uint32_t> keys, vals;
  size_t mask = 0, used = 0;
  CountTable() : keys(1, 0), vals(1, 0) {}
  static uint32_t fp(uint64_t h) { return (uint32_t)(h >> 32) | 1; }
  void prefetch(uint64_t k) const {
    size_t i = mix(k) & mask;
    __builtin_prefetch(&keys[i]);
    __builtin_prefetch(&vals[i]);
  }
  uint32_t get(uint64_t k) const {
    uint64_t h = mix(k);
    uint32_t f = fp(h);
    size_t i = h & mask;
    while (keys[i]) {
      if (keys[i] == f) return vals[i];
      i = (i + 1) & mask;
    }
    return 0;
  }
  void build(std::vector<uint64_t>& ks) {
    std::sort(ks.begin(), ks.end());
    size_t distinct = 0;
    for (size_t i = 0; i < ks.size(); ++i) distinct += i == 0 || ks[i] != ks[i - 1];
    size_t cap = 1024;
    while (cap * 6 < distinct * 10) cap *= 2;
    keys.assign(cap, 0);
    vals.assign(cap, 0);
    mask = cap - 1;
    used = distinct;
    for (size_t i = 0; i < ks.size();) {
      size_t j = i;
      while (j < ks.size() && ks[j] == ks[i]) ++j;
      uint64_t h = mix(ks[i]);
      uint32_t f = fp(h);
      size_t s = h & mask;
      while (keys[s] && keys[s] != f) s = (s + 1) & mask;
      keys[s] = f;
      vals[s] += (uint32_t)(j - i);
      i = j;
    }
    std::vector<uint64_t>().swap(ks);
  }
};

struct LangStats {
  Table uni;
  CountTable bi;
  double total = 1;
  // log P(cell | token of a spun text) - log P(cell | token of a clean text), and the
  // document-score offset that puts prob 0.5 at the chosen operating point.
  double llr[kCells] = {};
  // Document model: logistic regression over doc_features(), standardized.
  // English: per-cell log likelihood ratio of a text with a share kMixRho of substituted
  // tokens against clean text, log(1 - rho + rho * P(c | substituted) / P(c | clean));
  // summed over a document's tokens (see fit()). Zero for Chinese.
  double mixw[kCells] = {};
  static constexpr int kDoc = 14;
  double mu[kDoc] = {}, sd[kDoc] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, w[kDoc + 1] = {};
  double offset = 0, offset_classical = 0;
  // Chinese texts whose share of one-character words is at least this cut ("classical":
  // verse such as fortunes-zh) get the operating point offset_classical. The cut is
  // derived from the tuning split only (see classical_cut()); 2 (never) for English.
  double classical_cut = 2;
  // Clean-text (tuning split) means of the cell score and of the two character-pair shares.
  // Clean tuning means of the evidence features.
  double prior[6] = {};
};

}  // namespace veritas::spun
