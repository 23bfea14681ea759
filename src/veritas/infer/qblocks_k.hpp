#pragma once
// Internal to the block kernels (qblocks.cpp, qblocks_k.cpp, qblocks_f16.cpp): K-quant and
// F16 products.
#include <cstddef>
#include <cstdint>

#include "veritas/infer/kernels.hpp"

namespace veritas::infer::kq {

enum Isa { kScalar, kAvx2, kVnni };  // the instruction set the block kernels run

// Bytes per super-block of 256 weights: Q4_K 144, Q5_K 176, Q6_K 210.
inline int superblock_bytes(Precision p) { return p == Precision::Q4_K ? 144 : p == Precision::Q5_K ? 176 : 210; }

// y[t*ldy + r] for rows [r0, r1) of K-quant blocks w (row_bytes per row; w starts at row
// row0) against the quantized activations qa (blocks of 32).
void matmul(Precision p, Isa isa, const uint8_t* w, size_t row_bytes, int row0, const QuantActs* qa, int T, float* y,
            int ldy, int r0, int r1);

// y[t*ldy + r] for rows [r0, r1) of F16 weights w (row_bytes per row, cols halves; w
// starts at row row0) against fp32 activations x (T tokens, ldx apart).
void matmul_f16(Isa isa, const uint8_t* w, size_t row_bytes, int row0, int cols, const float* x, int ldx, int T,
                float* y, int ldy, int r0, int r1);

}  // namespace veritas::infer::kq
