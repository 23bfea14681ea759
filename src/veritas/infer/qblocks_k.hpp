#pragma once
// Internal to the block kernels (qblocks.cpp, qblocks_k.cpp, qblocks_f16.cpp,
// qblocks_x16.cpp): K-quant, F16 and interleaved-row products.
#include <cstddef>
#include <cstdint>

#include "veritas/infer/kernels.hpp"
#include "veritas/model/quant.hpp"

namespace veritas::infer::kq {

enum Isa { kScalar, kAvx2, kVnni };  // the instruction set the block kernels run

// The GGUF type of a stored block type (its block and byte sizes: ggml_type_info).
inline GgmlType ggml_type_of(Precision p) {
  return p == Precision::F16    ? GgmlType::F16
         : p == Precision::Q8_0 ? GgmlType::Q8_0
         : p == Precision::Q4_0 ? GgmlType::Q4_0
         : p == Precision::Q4_1 ? GgmlType::Q4_1
         : p == Precision::Q5_0 ? GgmlType::Q5_0
         : p == Precision::Q4_K ? GgmlType::Q4_K
         : p == Precision::Q5_K ? GgmlType::Q5_K
                                : GgmlType::Q6_K;
}
// Bytes of one block of a stored block type.
inline size_t block_bytes(Precision p) { return (size_t)ggml_type_info((uint32_t)ggml_type_of(p))->bytes; }

// y[t*ldy + r] for rows [r0, r1) of K-quant blocks w (row_bytes per row; w starts at row
// row0) against the quantized activations qa (blocks of 32).
void matmul(Precision p, Isa isa, const uint8_t* w, size_t row_bytes, int row0, const QuantActs* qa, int T, float* y,
            int ldy, int r0, int r1);

// y[t*ldy + r] for rows [r0, r1) of F16 weights w (row_bytes per row, cols halves; w
// starts at row row0) against fp32 activations x (T tokens, ldx apart).
void matmul_f16(Isa isa, const uint8_t* w, size_t row_bytes, int row0, int cols, const float* x, int ldx, int T,
                float* y, int ldy, int r0, int r1);

// Q8_0, Q4_0, Q4_1 and Q5_0 are stored as groups of kGroup interleaved rows
// (qblocks_x16.cpp), the last group padded with zero rows.
inline constexpr int kGroup = 16;
inline bool interleaved(Precision p) {
  return p == Precision::Q8_0 || p == Precision::Q4_0 || p == Precision::Q4_1 || p == Precision::Q5_0;
}

// rows x row_bytes of GGUF blocks of type p -> ceil(rows / 16) groups (16 * row_bytes each).
void interleave(Precision p, const uint8_t* rows_blocks, int rows, size_t row_bytes, uint8_t* out);
// Row r's GGUF blocks (row_bytes) back from the groups.
void deinterleave_row(Precision p, const uint8_t* groups, size_t row_bytes, int r, uint8_t* out);
// y[t*ldy + r] for rows [r0, r1) of the grouped matrix w of type p (rows rows starting at
// row row0) against the quantized activations qa.
void matmul_x16(Precision p, Isa isa, const uint8_t* w, size_t row_bytes, int row0, int rows, const QuantActs* qa,
                int T, float* y, int ldy, int r0, int r1);

}  // namespace veritas::infer::kq
