#pragma once
// Internal to the content filters (quality, spam): an open-addressing counter keyed by
// 64-bit hashes, cleared per document and reused per thread, so counting n-grams or lines
// allocates nothing in the steady state.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace veritas::filters {

// 64-bit finalizer (MurmurHash3's fmix64): spreads keys over the table's slots.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
  return x;
}

class HashCounter {
 public:
  // Key, count and one free word per slot in one 16-byte entry: a probe touches one
  // cache line.
  struct Entry {
    uint64_t key;  // stored with its low bit set; 0 marks an empty slot
    uint32_t count;
    uint32_t aux;  // caller's (e.g. position of the first occurrence)
  };
  // Empties the table and sizes it for up to n distinct keys (load factor <= 1/2).
  void reset(size_t n) {
    size_t cap = 64;
    int bits = 6;
    while (cap < 2 * n + 2) cap <<= 1, ++bits;
    if (slots_.size() != cap) slots_.assign(cap, Entry{0, 0, 0});
    else std::fill(slots_.begin(), slots_.end(), Entry{0, 0, 0});
    mask_ = cap - 1;
    shift_ = 64 - bits;
  }
  // The entry of key k, inserted with count 0 when absent.
  Entry& at(uint64_t k) {
    Entry& e = slots_[probe(k |= 1)];
    e.key = k;
    return e;
  }
  // The count of key k, inserted at 0 when absent.
  uint32_t& slot(uint64_t k) { return at(k).count; }
  // The count of key k, or nullptr when absent.
  const uint32_t* find(uint64_t k) const {
    const Entry& e = slots_[probe(k |= 1)];
    return e.key ? &e.count : nullptr;
  }

 private:
  // Slot of k or of the empty slot where it would go. The keys are hashes already, but
  // their low bits can be weak (polynomial hashes of code points): the slot comes from
  // the high bits of a multiplication, which depend on every bit of the key.
  size_t probe(uint64_t k) const {
    size_t i = (size_t)((k * 0x9E3779B97F4A7C15ULL) >> shift_);
    while (slots_[i].key && slots_[i].key != k) i = (i + 1) & mask_;
    return i;
  }
  std::vector<Entry> slots_;
  size_t mask_ = 0;
  int shift_ = 58;
};

// A first pass for counting: 8-bit saturating counters indexed by a key's hash.
// Every occurrence of a key lands in the same cell, so a key that occurs at least m
// times has a cell count of at least m: keys whose cell counts less are certainly
// rarer, and only the others need the exact table.
class CountSketch {
 public:
  // Clears the counters, at least cells_per_key of them per key for up to n keys (more
  // cells, fewer keys sharing one).
  void reset(size_t n, size_t cells_per_key) {
    size_t cap = 1024;
    int bits = 10;
    while (cap < cells_per_key * n && bits < 20) cap <<= 1, ++bits;
    cells_.assign(cap, 0);
    shift_ = 64 - bits;
  }
  void add(uint64_t k) {
    uint8_t& c = cells_[cell(k)];
    c += c < 255;
  }
  uint32_t at_least(uint64_t k) const { return cells_[cell(k)]; }
  // add() for keys[0..m).
  void add_all(const uint64_t* keys, size_t m) {
    uint8_t* cells = cells_.data();
    const int shift = shift_;
    for (size_t k = 0; k < m; ++k) {
      uint8_t& c = cells[cell(keys[k], shift)];
      c += c < 255;
    }
  }
  // Writes to out the indices k (increasing) with at_least(keys[k]) >= min; returns how many.
  size_t select(const uint64_t* keys, size_t m, uint32_t min, uint32_t* out) const {
    const uint8_t* cells = cells_.data();
    const int shift = shift_;
    size_t q = 0;
    for (size_t k = 0; k < m; ++k) {
      out[q] = (uint32_t)k;
      q += cells[cell(keys[k], shift)] >= min;
    }
    return q;
  }

 private:
  // HashCounter merges keys that differ in the low bit only; so does the sketch.
  static size_t cell(uint64_t k, int shift) { return (size_t)(((k | 1) * 0xD6E8FEB86659FD93ULL) >> shift); }
  size_t cell(uint64_t k) const { return cell(k, shift_); }
  std::vector<uint8_t> cells_;
  int shift_ = 54;
};

}  // namespace veritas::filters
