#pragma once
// FNV-1a, the one small string hash used for seeds and split keys (stable across runs
// and platforms, unlike std::hash).
#include <cstdint>
#include <string_view>

namespace veritas {

constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ULL;  // 14695981039346656037
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;       // 1099511628211
// The basis the task generators and the quality filter have always started from: the
// standard one without its last digit. Any basis hashes as well; this one is kept so
// that generated task sets, their splits and curation results stay as they were.
constexpr uint64_t kFnvBasisShort = 1469598103934665603ULL;

// One byte into a running FNV-1a hash (for hot loops that hash as they scan).
constexpr uint64_t fnv1a_step(uint64_t h, unsigned char c) { return (h ^ c) * kFnvPrime; }

constexpr uint64_t fnv1a(std::string_view s, uint64_t basis = kFnvBasis) {
  uint64_t h = basis;
  for (char c : s) h = fnv1a_step(h, (unsigned char)c);
  return h;
}

// fnv1a with a final avalanche, so that keys differing in one digit spread over buckets.
constexpr uint64_t fnv1a_mixed(std::string_view s, uint64_t basis = kFnvBasis) {
  uint64_t h = fnv1a(s, basis);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

}  // namespace veritas
