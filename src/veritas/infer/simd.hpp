#pragma once
// Small AVX2 helpers the CPU kernels share (kernels.cpp, qblocks*.cpp). Present only where
// the compiler targets AVX2 (h2f_fast: and F16C); each kernel file keeps its own scalar
// fallback.
#if defined(__AVX2__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace veritas::infer::simd {

// Decoding one token reads each weight once, row after row: the bytes 4 KiB ahead of the
// row being read are asked into L2 (a few DRAM latencies at the rate one core streams).
// Into L1 instead (two rows ahead), one thread on an AMD EPYC streamed F16 rows at 13-15
// GB/s against 16-22 with the L2 hint or none; on the Xeon the prefetch was worth 1.5x
// (docs/benchmarks/generate.md).
inline void prefetch_stream(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p) + 4096, _MM_HINT_T1); }

// Sum of the 8 lanes in one fixed order: results that must not depend on the instruction
// set or on how rows are grouped rely on it.
inline float hsum8(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// Largest of the 8 lanes (exact in any order).
inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

#if defined(__F16C__)
// The fp16 value stored (little-endian, any alignment) at p, as fp32.
inline float h2f_fast(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}
#endif

}  // namespace veritas::infer::simd
#endif
