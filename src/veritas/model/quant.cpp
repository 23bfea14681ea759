#include "veritas/model/quant.hpp"

#include <cmath>
#include <cstring>

#include "veritas/util/error.hpp"

namespace veritas {

const GgmlTypeInfo* ggml_type_info(uint32_t type) {
  static const GgmlTypeInfo f32{"F32", 1, 4}, f16{"F16", 1, 2}, bf16{"BF16", 1, 2}, q8_0{"Q8_0", 32, 34},
      q4_0{"Q4_0", 32, 18}, q4_1{"Q4_1", 32, 20}, q5_0{"Q5_0", 32, 22}, q4_k{"Q4_K", 256, 144}, q5_k{"Q5_K", 256, 176},
      q6_k{"Q6_K", 256, 210};
  switch ((GgmlType)type) {
    case GgmlType::F32: return &f32;
    case GgmlType::F16: return &f16;
    case GgmlType::BF16: return &bf16;
    case GgmlType::Q8_0: return &q8_0;
    case GgmlType::Q4_0: return &q4_0;
    case GgmlType::Q4_1: return &q4_1;
    case GgmlType::Q5_0: return &q5_0;
    case GgmlType::Q4_K: return &q4_k;
    case GgmlType::Q5_K: return &q5_k;
    case GgmlType::Q6_K: return &q6_k;
  }
  return nullptr;
}

std::string ggml_type_name(uint32_t type) {
  const GgmlTypeInfo* t = ggml_type_info(type);
  return t ? t->name : "type " + std::to_string(type);
}

namespace {

uint16_t rd16(const uint8_t* p) { return (uint16_t)(p[0] | (p[1] << 8)); }
float rdh(const uint8_t* p) { return f16_to_f32(rd16(p)); }

// 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block: the first four live
// in the low 6 bits of bytes 0..3 / 4..7; the last four split over bytes 8..11 (low and
// high nibble) plus the top two bits of bytes 0..7.
void scale_min_k4(int j, const uint8_t* s, int& sc, int& mn) {
  if (j < 4) {
    sc = s[j] & 63;
    mn = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

}  // namespace

void dequantize(GgmlType type, const void* src_v, int64_t n, float* y) {
  const GgmlTypeInfo* info = ggml_type_info((uint32_t)type);
  check(info && n % info->block == 0, "dequantize: " + std::to_string(n) + " weights are not whole blocks of " +
                                          ggml_type_name((uint32_t)type));
  const uint8_t* p = static_cast<const uint8_t*>(src_v);
  const int64_t nb = n / info->block;
  switch (type) {
    case GgmlType::F32: std::memcpy(y, p, n * 4); return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) y[i] = rdh(p + 2 * i);
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint32_t b = (uint32_t)rd16(p + 2 * i) << 16;
        std::memcpy(&y[i], &b, 4);
      }
      return;
    case GgmlType::Q8_0:
      for (int64_t b = 0; b < nb; ++b, p += 34, y += 32) {
        float d = rdh(p);
        for (int j = 0; j < 32; ++j) y[j] = d * (float)(int8_t)p[2 + j];
      }
      return;
    case GgmlType::Q4_0:
      for (int64_t b = 0; b < nb; ++b, p += 18, y += 32) {
        float d = rdh(p);
        for (int j = 0; j < 16; ++j) {
          y[j] = d * (float)((p[2 + j] & 0xF) - 8);
          y[j + 16] = d * (float)((p[2 + j] >> 4) - 8);
        }
      }
      return;
    case GgmlType::Q4_1:
      for (int64_t b = 0; b < nb; ++b, p += 20, y += 32) {
        float d = rdh(p), m = rdh(p + 2);
        for (int j = 0; j < 16; ++j) {
          y[j] = d * (float)(p[4 + j] & 0xF) + m;
          y[j + 16] = d * (float)(p[4 + j] >> 4) + m;
        }
      }
      return;
    case GgmlType::Q5_0:
      for (int64_t b = 0; b < nb; ++b, p += 22, y += 32) {
        const float d = rdh(p);
        const uint32_t qh = (uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 24;
        for (int j = 0; j < 16; ++j) {
          y[j] = d * (float)((int)((p[6 + j] & 0xF) | ((qh >> j) & 1) << 4) - 16);
          y[j + 16] = d * (float)((int)((p[6 + j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - 16);
        }
      }
      return;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K: {
      const bool five = type == GgmlType::Q5_K;
      for (int64_t b = 0; b < nb; ++b, p += info->bytes) {
        float d = rdh(p), dmin = rdh(p + 2);
        const uint8_t* sc = p + 4;
        const uint8_t* qh = p + 16;  // Q5_K only
        const uint8_t* q = p + (five ? 48 : 16);
        for (int g = 0; g < 4; ++g, q += 32) {  // 64 weights: 32 low nibbles, then 32 high
          int s0, m0, s1, m1;
          scale_min_k4(2 * g, sc, s0, m0);
          scale_min_k4(2 * g + 1, sc, s1, m1);
          const float d0 = d * s0, d1 = d * s1, n0 = dmin * m0, n1 = dmin * m1;
          for (int l = 0; l < 32; ++l) {
            int lo = q[l] & 0xF, hi = q[l] >> 4;
            if (five) {
              lo += ((qh[l] >> (2 * g)) & 1) << 4;
              hi += ((qh[l] >> (2 * g + 1)) & 1) << 4;
            }
            y[l] = d0 * (float)lo - n0;
            y[l + 32] = d1 * (float)hi - n1;
          }
          y += 64;
        }
      }
      return;
    }
    case GgmlType::Q6_K:
      for (int64_t b = 0; b < nb; ++b, p += 210) {
        const uint8_t* ql = p;
        const uint8_t* qh = p + 128;
        const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192);
        const float d = rdh(p + 208);
        for (int h = 0; h < 2; ++h, ql += 64, qh += 32, sc += 8, y += 128) {  // two halves of 128
          for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
          }
        }
      }
      return;
  }
}

void quantize_q8_0(const float* x, int64_t n, void* dst) {
  check(n % 32 == 0, "quantize_q8_0: " + std::to_string(n) + " is not a multiple of 32");
  uint8_t* p = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / 32; ++b, x += 32, p += 34) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    uint16_t h = f32_to_f16(d);
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
    for (int j = 0; j < 32; ++j) p[2 + j] = (uint8_t)(int8_t)std::lround(x[j] * id);
  }
}

}  // namespace veritas
