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
  // Empties the table and sizes it for up to n distinct keys (load factor <= 1/2).
  void reset(size_t n) {
    size_t cap = 64;
    while (cap < 2 * n + 2) cap <<= 1;
    if (keys_.size() != cap) {
      keys_.assign(cap, 0);
      counts_.assign(cap, 0);
    } else {
      std::fill(keys_.begin(), keys_.end(), 0);
    }
    mask_ = cap - 1;
  }
  // The count of key k, inserted at 0 when absent.
  uint32_t& slot(uint64_t k) {
    size_t i = probe(k |= 1);
    if (!keys_[i]) {
      keys_[i] = k;
      counts_[i] = 0;
    }
    return counts_[i];
  }
  // The count of key k, or nullptr when absent.
  const uint32_t* find(uint64_t k) const {
    size_t i = probe(k |= 1);
    return keys_[i] ? &counts_[i] : nullptr;
  }

 private:
  // Slot of k or of the empty slot where it would go; key 0 marks empty slots, so keys
  // are stored with their low bit set.
  size_t probe(uint64_t k) const {
    size_t i = mix64(k) & mask_;
    while (keys_[i] && keys_[i] != k) i = (i + 1) & mask_;
    return i;
  }
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> counts_;
  size_t mask_ = 0;
};

}  // namespace veritas::filters
