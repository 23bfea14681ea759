#pragma once
// Inference kernels: weight matrices stored in fp32, bf16 or int8 (per-row scales), or as
// a GGUF file's blocks or F16 halves (qblocks*.cpp), and the matrix x vector products
// that dominate decoding. Decoding one token reads every
// weight once, so the bytes per weight decide the speed: bf16 halves them, int8 quarters
// them. int8 products quantize the activations too (blocks of 32 with one fp32 scale
// each) so the inner loop runs on integer multiply-adds.
//
// Every (row, token) dot product is computed by the same code whatever the number of
// tokens T, so a prompt processed in one batch gives bit-identical results to the same
// tokens fed one at a time through the KV cache.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace veritas::infer {

// F32, BF16, INT8: the weights converted at load. GGUF: keep a GGUF file's Q8_0, Q4_0,
// Q4_1, Q5_0, K-quant blocks and F16 weights as they are and multiply them directly
// (qblocks.cpp, qblocks_x16.cpp, qblocks_k.cpp, qblocks_f16.cpp); other tensor types are
// dequantized to fp32. F16 (IEEE halves) names such a stored type, not a --precision value.
enum class Precision { F32, BF16, INT8, Q8_0, Q4_0, Q4_1, GGUF, Q4_K, Q5_K, Q6_K, Q5_0, F16 };
Precision parse_precision(std::string_view s);  // "fp32"|"f32"|"bf16"|"int8"|"gguf"; throws Error
const char* precision_name(Precision p);
size_t precision_weight_bytes(Precision p);  // bytes per weight (int8: 1, scales excluded)

// `bytes` (a multiple of 64) of 64-byte aligned memory for std::free. With `huge`, from
// 2 MiB on: aligned to 2 MiB, `bytes` rounded up to a multiple of it, and advised as huge
// pages (Linux) — for weights, which decoding streams once per token, and with 4 KiB pages
// a TLB miss comes every 64 cache lines. Not for KV caches: a huge page is resident as a
// whole as soon as one position in it is written.
void* alloc_buffer(size_t& bytes, bool huge);

// 64-byte aligned, uninitialized-by-default array (weights, KV cache, scratch).
template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t n, bool zero = true) { resize(n, zero); }
  void resize(size_t n, bool zero = true) { allocate(n, zero, false); }
  // Weights: from 2 MiB on, on huge pages (alloc_buffer).
  void resize_weights(size_t n, bool zero = false) { allocate(n, zero, true); }
  T* data() { return p_.get(); }
  const T* data() const { return p_.get(); }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return p_.get()[i]; }
  const T& operator[](size_t i) const { return p_.get()[i]; }

 private:
  void allocate(size_t n, bool zero, bool huge) {
    size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
    p_.reset(n ? static_cast<T*>(alloc_buffer(bytes, huge)) : nullptr);
    if (n && !p_) throw std::bad_alloc();
    n_ = n;
    if (zero && n) std::memset(static_cast<void*>(p_.get()), 0, bytes);
  }
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> p_;
  size_t n_ = 0;
};

uint16_t f32_to_bf16(float f);  // round to nearest even; NaN stays NaN
float bf16_to_f32(uint16_t h);

inline constexpr int kQBlock = 32;  // activation quantization block (int8 path)

// Activations quantized for the int8 path: per token, ceil(cols/32) blocks of 32 int8
// values (zero padded) and one fp32 scale per block.
struct QuantActs {
  int T = 0, cols = 0, blocks = 0;
  Buffer<int8_t> q;
  Buffer<float> scale;
  Buffer<float> bsum;    // scale * sum of the block's q (for Q4_1's offset term)
  Buffer<int32_t> qsum;  // sum of the block's q (for Q4_0's and Q5_0's offsets, in integers)
  void quantize(const float* x, int T, int cols, int ldx);  // grows the buffers as needed
  void prepare(int T, int cols);                  // sizes the buffers for T tokens
  void quantize_row(int t, const float* x);        // token t of a prepared batch
};

// A [rows, cols] row-major weight matrix in one precision.
class QMatrix {
 public:
  QMatrix() = default;
  static QMatrix from_f32(const float* w, int rows, int cols, Precision p);
  // rows x cols weights as GGUF blocks (p = Q8_0, Q4_0, Q4_1 or Q5_0 with cols a multiple of
  // 32; Q4_K, Q5_K or Q6_K with cols a multiple of 256; F16: cols IEEE halves per row, any
  // cols), rows one after another; copied.
  static QMatrix from_blocks(const void* blocks, int rows, int cols, Precision p);
  // Several such matrices of the same cols, possibly of different block types, stacked
  // (rows of parts[0], then parts[1], ...): a fused q/k/v whose v is Q6_K and q/k Q4_K.
  struct BlockPart {
    const void* blocks;
    int rows;
    Precision p;
  };
  static QMatrix from_block_parts(const std::vector<BlockPart>& parts, int cols);
  Precision precision() const { return prec_; }
  // Whether matmul reads quantized activations (qa): int8 and block types except F16.
  // F16 rows read x (fp32); a matrix stacking F16 and quantized parts reads both.
  bool uses_quant_acts() const { return quant_acts_; }
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  size_t weight_bytes() const;  // bytes read by one full product (scales included)
  // Where the weights of rows [r0, r1) lie, for a prefetch hint: rows (and interleaved
  // groups) are stored one after another. Null for an empty range.
  struct Bytes {
    const uint8_t* data = nullptr;
    size_t size = 0;
  };
  Bytes row_bytes(int r0, int r1) const;
  void row_f32(int r, float* out) const;  // dequantized row
  Precision row_precision(int r) const;   // the stored type of row r (stacked parts differ)

  // y[t*ldy + r] = sum_c W[r, c] * x[t*ldx + c] for r in [r0, r1), t in [0, T).
  // The int8 and quantized block paths read `qa` (the same x quantized); the others read x.
  void matmul(const float* x, int ldx, const QuantActs* qa, int T, float* y, int ldy, int r0,
              int r1) const;

 private:
  Precision prec_ = Precision::F32;
  int rows_ = 0, cols_ = 0, ld_ = 0;  // ld_: row stride in elements (int8: padded to 32)
  bool quant_acts_ = false, reads_x_ = true;  // what matmul needs: qa, x
  Buffer<float> f32_;
  Buffer<uint16_t> bf16_;
  Buffer<int8_t> q8_;
  Buffer<float> scale_;  // int8: per-row scale
  // Q8_0 / Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K blocks or F16 rows, row after row; Q4_1 blocks
  // in groups of 16 interleaved rows (qblocks_x16.cpp).
  Buffer<uint8_t> blk_;
  // Row ranges of one block type each (one range unless built by from_block_parts).
  struct Seg {
    int r0, r1;
    Precision p;
    size_t offset, row_bytes;  // bytes into blk_ of row r0; bytes per row
  };
  std::vector<Seg> segs_;
  const Seg& seg_of(int r) const;
  void matmul_blocks(const float* x, int ldx, const QuantActs* qa, int T, float* y, int ldy, int r0,
                     int r1) const;  // qblocks.cpp
};

// Which instruction set the block kernels run (chosen at run time): "avx512-vnni",
// "avx2" or "scalar". set_block_kernels("avx2"/"scalar") forces one (tests).
const char* block_kernels();
void set_block_kernels(std::string_view name);

// Plain scalar references for the tests (double accumulation).
void matmul_reference(const QMatrix& W, const float* x, int ldx, const QuantActs* qa, int T, float* y,
                      int ldy);

// Misc vector kernels used by the decoder.
void rmsnorm(const float* x, const float* w, int n, float eps, float* out);
// One attention head over n cached positions, keys and values hd values each, one position
// after another, fp32 or IEEE halves (an fp16 KV cache, widened exactly: the same sums in
// the same order as on the widened values in fp32):
//   attn_scores: scores[j] = scale * (q . K_j)
//   attn_mix:    out = sum_j p[j] * V_j          (out overwritten)
void attn_scores(const float* q, const float* K, int n, int hd, float scale, float* scores);
void attn_scores(const float* q, const uint16_t* K, int n, int hd, float scale, float* scores);
void attn_mix(const float* p, const float* V, int n, int hd, float* out);
void attn_mix(const float* p, const uint16_t* V, int n, int hd, float* out);

// Streaming read of n floats (memory bandwidth probe for the benchmark roofline).
double stream_read_sum(const float* p, size_t n);

}  // namespace veritas::infer
