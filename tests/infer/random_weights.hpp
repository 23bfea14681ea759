#pragma once
// Deterministic random weights for test engines (infer and serve tests): order-1
// activations, and each tensor's values depend only on its name and the seed.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "veritas/infer/engine.hpp"
#include "veritas/util/rng.hpp"

namespace veritas::test {

inline infer::WeightSource random_source(uint64_t seed) {
  return [seed](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
    if (name == "lm_head.weight") return false;
    uint64_t h = seed;
    for (char ch : name) h = h * 131 + (unsigned char)ch;
    Rng r(h);
    int64_t n = 1;
    for (auto s : shape) n *= s;
    float scale = shape.size() == 1 ? 0.1f : name.find("embed") != std::string::npos ? 0.3f : 1.0f / std::sqrt((float)shape[1]);
    for (int64_t i = 0; i < n; ++i) dst[i] = (shape.size() == 1 ? 1.0f : 0.0f) + (float)r.normal() * scale;
    return true;
  };
}

}  // namespace veritas::test
