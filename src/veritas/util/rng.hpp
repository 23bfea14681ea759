#pragma once
// Deterministic RNG (xoshiro256**, seeded by splitmix64). Its state is four words, so
// it can be saved in a checkpoint and restored bit for bit.
#include <array>
#include <cmath>
#include <cstdint>

namespace veritas {

// splitmix64's finaliser over a * golden + b + salt: one well-mixed seed from two (a run's
// seed and a round or item number). The salt keeps separate uses' seeds apart.
inline uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t salt) {
  uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + salt;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed) {
    for (auto& w : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      w = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0]; s_[3] ^= s_[1]; s_[1] ^= s_[2]; s_[0] ^= s_[3];
    s_[2] ^= t; s_[3] = rotl(s_[3], 45);
    return r;
  }
  // Uniform integer in [0, n) without modulo bias (Lemire's method).
  uint64_t below(uint64_t n) {
    if (n == 0) return 0;
    __uint128_t m = (__uint128_t)next() * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
      uint64_t t = -n % n;
      while (l < t) { m = (__uint128_t)next() * n; l = (uint64_t)m; }
    }
    return (uint64_t)(m >> 64);
  }
  int64_t range(int64_t lo, int64_t hi) { return lo + (int64_t)below((uint64_t)(hi - lo + 1)); }  // [lo, hi]
  double uniform() { return (next() >> 11) * 0x1.0p-53; }  // [0, 1)
  float uniformf() { return (next() >> 40) * 0x1.0p-24f; }
  double normal() {  // Box-Muller
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> s_{};
};

}  // namespace veritas
