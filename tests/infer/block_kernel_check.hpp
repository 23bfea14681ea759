// What the block-kernel tests share (gguf_test.cpp: Q8_0/Q4_0/Q4_1; kquant_test.cpp:
// Q4_K/Q5_K/Q6_K): seeded random blocks and activations, and one matrix product run on
// every instruction set this CPU has, each result handed to the caller's bound check.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "veritas/infer/kernels.hpp"
#include "veritas/model/quant.hpp"
#include "veritas/util/error.hpp"

namespace veritas::reference {

// A 64-bit LCG: the same draws on every machine, unlike the standard distributions.
struct Lcg {
  uint64_t state;
  explicit Lcg(uint64_t seed) : state(seed) {}
  uint32_t next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(state >> 33);
  }
  double uniform() {  // in [0, 1)
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(state >> 11) / (double)(1ull << 53);
  }
};

// Random bytes for rows x cols weights in blocks of `block_values` values and
// `block_bytes` bytes, with an fp16 scale drawn by `scale` written at each offset in
// `scale_at` of every block (random bytes there could be NaN or infinite).
inline std::vector<uint8_t> random_blocks(int rows, int cols, int block_values, int block_bytes, uint64_t seed,
                                          const std::vector<size_t>& scale_at,
                                          const std::function<float(Lcg&)>& scale) {
  Lcg rng(seed);
  std::vector<uint8_t> raw((size_t)rows * cols / block_values * block_bytes);
  for (auto& b : raw) b = (uint8_t)rng.next();
  for (size_t o = 0; o < raw.size(); o += block_bytes)
    for (size_t at : scale_at) {
      const uint16_t h = f32_to_f16(scale(rng));
      std::memcpy(&raw[o + at], &h, 2);
    }
  return raw;
}

// T x cols activations uniform in [-1, 1).
inline std::vector<float> random_acts(int T, int cols, uint64_t seed) {
  Lcg rng(seed);
  std::vector<float> x((size_t)T * cols);
  for (float& v : x) v = (float)(rng.uniform() * 2 - 1);
  return x;
}

// y = W qa (T tokens) on the scalar kernels and on AVX2 and AVX-512 VNNI where this CPU
// runs them; `check(isa, y)` bounds each result. AVX2 and VNNI do the same integer sums
// in the same order, so their results must be bit-identical; and the kernels take several
// tokens per call without changing any token's arithmetic, so each result must equal the
// one token's product computed alone.
inline void on_every_isa(const infer::QMatrix& W, const infer::QuantActs& qa, int T,
                         const std::function<void(const std::string& isa, const std::vector<float>& y)>& check,
                         const std::string& what) {
  std::vector<std::string> isas = {"scalar"};
  for (const char* s : {"avx2", "avx512-vnni"}) {
    try {
      infer::set_block_kernels(s);
      isas.push_back(s);
    } catch (const Error&) {
    }
  }
  std::vector<std::vector<float>> outs;
  for (auto& isa : isas) {
    infer::set_block_kernels(isa);
    std::vector<float> y((size_t)T * W.rows());
    W.matmul(nullptr, 0, &qa, T, y.data(), W.rows(), 0, W.rows());
    check(isa, y);
    for (int t = 0; t < T; ++t) {  // token t alone: its own QuantActs
      infer::QuantActs one;
      one.prepare(1, qa.cols);
      const size_t nb = (size_t)qa.blocks;
      std::memcpy(one.q.data(), qa.q.data() + t * nb * infer::kQBlock, nb * infer::kQBlock);
      std::memcpy(one.scale.data(), qa.scale.data() + t * nb, nb * sizeof(float));
      std::memcpy(one.bsum.data(), qa.bsum.data() + t * nb, nb * sizeof(float));
      std::memcpy(one.qsum.data(), qa.qsum.data() + t * nb, nb * sizeof(int32_t));
      std::vector<float> y1(W.rows());
      W.matmul(nullptr, 0, &one, 1, y1.data(), W.rows(), 0, W.rows());
      EXPECT_TRUE(std::equal(y1.begin(), y1.end(), y.begin() + (size_t)t * W.rows()))
          << what << " " << isa << ": token " << t << " of " << T << " differs from the token alone";
    }
    outs.push_back(y);
  }
  if (outs.size() == 3) {
    EXPECT_EQ(outs[1], outs[2]) << what << ": AVX2 and AVX-512 VNNI differ";
  }
  // Q8_0, Q4_0, Q4_1 and Q5_0 (interleaved rows, one row a lane) add up in the same order
  // in the scalar code too.
  bool interleaved = true;
  for (int r = 0; r < W.rows(); ++r) {
    const infer::Precision p = W.row_precision(r);
    interleaved = interleaved && (p == infer::Precision::Q4_1 || p == infer::Precision::Q8_0 ||
                                  p == infer::Precision::Q4_0 || p == infer::Precision::Q5_0);
  }
  if (interleaved) {
    for (size_t i = 1; i < outs.size(); ++i) EXPECT_EQ(outs[0], outs[i]) << what << ": scalar and " << isas[i] << " differ";
  }
  infer::set_block_kernels("auto");
}

}  // namespace veritas::reference
