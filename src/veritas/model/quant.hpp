#pragma once
// ggml tensor types as stored in GGUF files: block layouts and dequantization to fp32.
// A quantized row of n weights is n / block_size blocks; each block carries its own
// scale(s). Layouts (bytes per block of 32 or 256 weights):
//   Q8_0 (34):  f16 d, int8 q[32]                      w = d * q
//   Q4_0 (18):  f16 d, u8 qs[16]                        w = d * (nibble - 8)
//   Q4_1 (20):  f16 d, f16 m, u8 qs[16]                 w = d * nibble + m
//   Q5_0 (22):  f16 d, u32 qh, u8 qs[16]                w = d * ((nibble | bit << 4) - 16),
//               bit j of qh (little-endian) is weight j's fifth bit
//   Q4_K (144): f16 d, f16 dmin, u8 scales[12], u8 qs[128]   8 sub-blocks of 32 with
//               6-bit scale sc and min mn:  w = d * sc * nibble - dmin * mn
//   Q5_K (176): as Q4_K plus u8 qh[32] (the fifth bit), before qs
//   Q6_K (210): u8 ql[128], u8 qh[64], int8 scales[16], f16 d;  w = d * sc * (q6 - 32)
// Nibble order in Q4_0/Q4_1/Q5_0: the low nibbles of qs are weights 0..15, the high ones 16..31.
#include <cstddef>
#include <cstdint>
#include <string>

#include "veritas/util/half.hpp"  // f16_to_f32, f32_to_f16

namespace veritas {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30,
};

struct GgmlTypeInfo {
  const char* name;
  int block;     // weights per block
  int bytes;     // bytes per block
};

// nullptr for a type veritas does not read.
const GgmlTypeInfo* ggml_type_info(uint32_t type);
std::string ggml_type_name(uint32_t type);  // "Q4_K", or "type 17" when unknown

// Dequantizes n weights (a multiple of the type's block size) from src into dst.
void dequantize(GgmlType type, const void* src, int64_t n, float* dst);

// Quantizes n fp32 weights (a multiple of 32) to Q8_0 as llama.cpp does (d = amax / 127,
// q = round(w / d)); used by the GGUF writer.
void quantize_q8_0(const float* src, int64_t n, void* dst);

}  // namespace veritas
