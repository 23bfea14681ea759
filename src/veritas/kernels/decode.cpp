#include "veritas/kernels/decode.hpp"

#include <cmath>
#include <cstring>
#include <vector>

#include "veritas/kernels/gemm_bf16.hpp"
#include "veritas/kernels/kernels.hpp"
#include "veritas/util/half.hpp"

namespace veritas::kernels {

void matmul_bf16_weights(float* out, const float* inp, const uint16_t* w, int64_t N, int C, int OC, bool accumulate) {
  // The reference, not the fast path: both operands widened to fp32 (exact), then the
  // fp32 product (the bf16 setting of matmul_forward would round them again, which changes
  // nothing: they are bf16 values already).
  std::vector<float> wf((size_t)OC * C), xf((size_t)N * C);
  for (size_t i = 0; i < wf.size(); ++i) wf[i] = from_bf16(w[i]);
  for (size_t i = 0; i < xf.size(); ++i) xf[i] = from_bf16(to_bf16(inp[i]));
  matmul_forward(out, xf.data(), wf.data(), N, C, OC, accumulate);
}

void matmul_q8_weights(float* out, const float* inp, const int8_t* q, const float* scale, int64_t N, int C, int OC,
                       bool accumulate) {
  // The reference: each row dequantized, then plain fp32 dot products.
  std::vector<float> wf(C);
  for (int o = 0; o < OC; ++o) {
    for (int c = 0; c < C; ++c) wf[c] = scale[((size_t)o * C + c) / 32] * (float)q[(size_t)o * C + c];
    for (int64_t n = 0; n < N; ++n) {
      const float* x = inp + n * C;
      float s = 0;
      for (int c = 0; c < C; ++c) s += wf[c] * x[c];
      float& y = out[n * OC + o];
      y = accumulate ? y + s : s;
    }
  }
}

void add_bias(float* x, const float* b, int64_t N, int C) {
  for (int64_t n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) x[n * C + c] += b[c];
}

void rope_at(float* x, const float* cos_t, const float* sin_t, const int32_t* pos, int64_t N, int n_heads,
             int head_dim, int64_t row_stride) {
  const int half = head_dim / 2;
  for (int64_t n = 0; n < N; ++n) {
    const float* c = cos_t + (int64_t)pos[n] * half;
    const float* s = sin_t + (int64_t)pos[n] * half;
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + n * row_stride + (int64_t)h * head_dim;
      for (int i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
      }
    }
  }
}

void scatter_rows(void* const* dst, const float* src, int64_t src_stride, int64_t N, int C, bool f16) {
  for (int64_t n = 0; n < N; ++n) {
    if (!f16) {
      std::memcpy(dst[n], src + n * src_stride, sizeof(float) * C);
      continue;
    }
    uint16_t* d = static_cast<uint16_t*>(dst[n]);
    for (int c = 0; c < C; ++c) d[c] = f32_to_f16(src[n * src_stride + c]);
  }
}

void attention_cached(float* out, const float* q, int64_t q_stride, const void* const* kbase,
                      const void* const* vbase, const int32_t* pos, int64_t N, int H, int KVH, int hd,
                      int64_t kv_stride, bool f16) {
  // Value i of row j of a key or value table, widened.
  auto at = [f16](const void* base, int64_t i) {
    return f16 ? f16_to_f32(static_cast<const uint16_t*>(base)[i]) : static_cast<const float*>(base)[i];
  };
  const float scale = 1.0f / std::sqrt((float)hd);
  std::vector<float> sc;
  for (int64_t n = 0; n < N; ++n) {
    const int len = pos[n] + 1;
    sc.resize(len);
    for (int h = 0; h < H; ++h) {
      const int kvh = h / (H / KVH);
      const float* qh = q + n * q_stride + (int64_t)h * hd;
      float m = -INFINITY;
      for (int j = 0; j < len; ++j) {
        const int64_t k0 = j * kv_stride + (int64_t)kvh * hd;
        float d = 0;
        for (int i = 0; i < hd; ++i) d += qh[i] * at(kbase[n], k0 + i);
        sc[j] = d * scale;
        m = std::fmax(m, sc[j]);
      }
      float sum = 0;
      for (int j = 0; j < len; ++j) sum += (sc[j] = std::exp(sc[j] - m));
      float* o = out + n * (int64_t)H * hd + (int64_t)h * hd;
      std::memset(o, 0, sizeof(float) * hd);
      for (int j = 0; j < len; ++j) {
        const float p = sc[j] / sum;
        const int64_t v0 = j * kv_stride + (int64_t)kvh * hd;
        for (int i = 0; i < hd; ++i) o[i] += p * at(vbase[n], v0 + i);
      }
    }
  }
}

}  // namespace veritas::kernels
