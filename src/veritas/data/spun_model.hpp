#pragma once
// Spun-text detection, internal: the model's data (reference tables, the fitted
// weights, read-only scoring copies) and the functions over it, by file:
// spun_features.cpp (token cells, document features, the tortured-phrase lexicon),
// spun_fit.cpp (fitting on the tuning split), spun_cache.cpp (the binary cache file),
// spun_passages.cpp (the clean passages and their splits).
#include <sys/mman.h>

#include <memory>

#include "veritas/data/document.hpp"
#include "veritas/data/spun.hpp"
#include "veritas/data/spun_tokens.hpp"

namespace veritas::spun {

// ------------------------------------------------------------------ scoring tables
// Read-only copies of the reference tables for scoring, made once after loading or
// building: a probe touches one slot holding key and value (one cache miss, not two),
// tables keyed by the same hash are merged (one probe where there were two to four),
// and the memory is 2 MiB-aligned and advised as huge pages, so random probes over
// ~60 MB do not also miss the TLB. Look-ups give exactly the source tables' answers.
constexpr size_t kHugePage = size_t(1) << 21;
struct FreeMem {
  size_t bytes = 0;
  void operator()(void* p) const { munmap(p, bytes); }
};
template <class S>
struct Slots {
  std::unique_ptr<S, FreeMem> mem;
  size_t mask = 0;
  void alloc(size_t n) {  // n: a power of two
    size_t bytes = (n * sizeof(S) + kHugePage - 1) / kHugePage * kHugePage;
    // Fresh anonymous memory (zero-filled by the kernel), cut to a 2 MiB boundary.
    void* raw = mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(raw != MAP_FAILED, "spun: out of memory for the scoring tables");
    uintptr_t a = (uintptr_t)raw, b = (a + kHugePage - 1) & ~(uintptr_t)(kHugePage - 1);
    if (b > a) munmap(raw, b - a);
    munmap((void*)(b + bytes), a + kHugePage - b);  // the tail past the aligned range (never empty)
    madvise((void*)b, bytes, MADV_HUGEPAGE);  // advice only: without huge pages it still works
    mem = std::unique_ptr<S, FreeMem>((S*)b, FreeMem{bytes});
    mask = n - 1;
  }
  const S& operator[](size_t i) const { return mem.get()[i]; }
  S& operator[](size_t i) { return mem.get()[i]; }
  void prefetch(uint64_t k) const { __builtin_prefetch(mem.get() + (mix(k) & mask)); }
};
// Capacity for n keys at load <= 0.6.
inline size_t capacity_for(size_t n) {
  size_t c = 1024;
  while (c * 6 < n * 10) c *= 2;
  return c;
}
// Full 64-bit keys (never 0), linear probing.
template <class S>
struct KeyTable : Slots<S> {
  const S* find(uint64_t k) const {
    size_t i = mix(k) & this->mask;
    for (const S* t = this->mem.get();; i = (i + 1) & this->mask) {
      if (t[i].key == k) return &t[i];
      if (!t[i].key) return nullptr;
    }
  }
  S& insert(uint64_t k) {
    size_t i = mix(k) & this->mask;
    S* t = this->mem.get();
    while (t[i].key && t[i].key != k) i = (i + 1) & this->mask;
    t[i].key = k;
    return t[i];
  }
};
struct EnWord {  // English word: reference count and 1 + its synonym list index (0: none)
  uint64_t key;
  uint32_t uni, syn;
};
struct ZhWord {  // Chinese word or dictionary prefix
  uint64_t key;
  uint32_t freq;     // jieba frequency (0: not a dictionary word)
  uint32_t uni : 31; // reference-text count
  uint32_t prefix : 1;
};
struct ZhChars {  // Chinese character pair: bit 0 in the reference text, bit 1 in a dictionary word
  uint64_t key;
  uint64_t seen;
};
// CountTable with fingerprint and count in one slot; same slots and probe order, so the
// same answers (fingerprint false matches included).
struct PairSlot {
  uint32_t fp, count;
};
struct PairTable : Slots<PairSlot> {
  void from(const CountTable& t) {
    alloc(t.keys.size());
    for (size_t i = 0; i < t.keys.size(); ++i) (*this)[i] = {t.keys[i], t.vals[i]};
  }
  uint32_t get(uint64_t k) const {
    uint64_t h = mix(k);
    uint32_t f = CountTable::fp(h);
    const PairSlot* t = mem.get();
    for (size_t i = h & mask; t[i].fp; i = (i + 1) & mask)
      if (t[i].fp == f) return t[i].count;
    return 0;
  }
};
struct ScoreTables {
  KeyTable<EnWord> en;
  KeyTable<ZhWord> zh;
  KeyTable<ZhChars> zh_chars;
  PairTable en_bi, zh_bi;
};
template <class F>
void for_each_key(const Table& t, F&& f) {
  for (size_t i = 0; i < t.keys.size(); ++i)
    if (t.keys[i]) f(t.keys[i], t.vals[i]);
}

// ------------------------------------------------------------------ features
struct Impl0 {
  LangStats en, zh;
  ZhDict dict;  // segmentation (frequencies only)
  // English WordNet synonyms: word hash -> 1 + index into syn_flat, where syn_flat[i] is
  // the count n and syn_flat[i+1 .. i+n] the synonyms' hashes.
  Table syn_index;
  std::vector<uint64_t> syn_flat;
  std::vector<uint32_t> syn_cnt;  // parallel to syn_flat: the synonym's reference count
  // Chinese character bigrams (hash of the 6 UTF-8 bytes): counts in the reference
  // fortunes text (across word boundaries too), and jieba frequencies summed over the
  // dictionary words that contain the bigram. A substituted word meets its neighbours
  // in character pairs that neither source has.
  Table zh_cref, zh_cdict;
  ScoreTables fast;  // made from the tables above by make_score_tables()

  void make_score_tables() {
    fast.en.alloc(capacity_for(en.uni.used + syn_index.used));
    for_each_key(en.uni, [&](uint64_t k, uint32_t v) { fast.en.insert(k).uni = v; });
    for_each_key(syn_index, [&](uint64_t k, uint32_t v) { fast.en.insert(k).syn = v; });
    fast.zh.alloc(capacity_for(dict.prefix.used + zh.uni.used));
    for_each_key(dict.prefix, [&](uint64_t k, uint32_t v) { fast.zh.insert(k).prefix = v != 0; });
    for_each_key(dict.freq, [&](uint64_t k, uint32_t v) { fast.zh.insert(k).freq = v; });
    for_each_key(zh.uni, [&](uint64_t k, uint32_t v) {
      check(v < (1u << 31), "spun: Chinese word count over 31 bits");
      fast.zh.insert(k).uni = v;
    });
    fast.zh_chars.alloc(capacity_for(zh_cref.used + zh_cdict.used));
    for_each_key(zh_cref, [&](uint64_t k, uint32_t v) { fast.zh_chars.insert(k).seen |= v != 0; });
    for_each_key(zh_cdict, [&](uint64_t k, uint32_t v) { fast.zh_chars.insert(k).seen |= (v != 0) << 1; });
    fast.en_bi.from(en.bi);
    fast.zh_bi.from(zh.bi);
  }
  // Scoring needs only the fast copies: the source tables are dropped once saved.
  void drop_source_tables() {
    for (Table* t : {&en.uni, &zh.uni, &dict.freq, &dict.prefix, &syn_index, &zh_cref, &zh_cdict}) *t = Table();
    en.bi = CountTable();
    zh.bi = CountTable();
  }
  DictHit dict_hit(uint64_t h) const {
    const ZhWord* w = fast.zh.find(h);
    return w ? DictHit{w->freq, w->prefix != 0} : DictHit{0, false};
  }
};

// ---- spun_features.cpp
const PhraseMatcher& tortured_matcher();
void count_zh_char_bigrams(Table& t, std::string_view s, uint32_t weight);
// Fills the per-token cells and the diagnostic features.
void token_cells(const Impl0& m, std::string_view text, Lang lang, SpunFeatures& f, std::vector<int>& cells);
double doc_llr(const LangStats& st, const std::vector<int>& cells, double* mix_sum);
struct Keys {
  std::vector<uint64_t> pairs;
};
void count_text(const ZhDict* dict, LangStats& st, std::string_view text, Keys& keys);
void doc_features(const LangStats& st, const SpunFeatures& f, double cell_score, double mix_sum, double* x);
double doc_z(const LangStats& st, const double* x);

// ---- spun_passages.cpp
struct Passage {
  std::string text;
  int split;    // -1 reference statistics, 0 tuning, 1 held-out
  int src = 0;  // index of the source (see sources())
};
std::vector<Passage> passages_en();  // all sources' passages, interleaved
std::vector<Passage> passages_zh();

// ---- spun_fit.cpp
void fit(const Impl0& m, LangStats& st, Lang lang, const std::vector<Passage>& ps, uint64_t seed, size_t max_used);

// ---- spun_cache.cpp
uint64_t source_fingerprint();  // changes when a source package changes
// false when the file is missing, stale (fp differs) or damaged.
bool load_cache(const std::string& bytes, uint64_t fp, Impl0& m);
std::string cache_bytes(const Impl0& m, uint64_t fp);

}  // namespace veritas::spun
