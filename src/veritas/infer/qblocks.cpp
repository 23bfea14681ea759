// QMatrix's GGUF block types: which kernels run (chosen at run time: AVX-512 VNNI, AVX2
// or scalar), how a file's blocks are stored, and the dispatch of a product to the kernel
// of each row range. Q8_0, Q4_0, Q4_1 and Q5_0 are stored as groups of 16 interleaved rows
// and multiplied in qblocks_x16.cpp, K-quants (Q4_K, Q5_K, Q6_K) row after row in
// qblocks_k.cpp, F16 rows in qblocks_f16.cpp; a matrix may stack row ranges of different
// types (QMatrix::from_block_parts), each run by its own kernel.
#include <algorithm>
#include <atomic>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define VERITAS_QB_AVX2 1
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define VERITAS_QB_VNNI 1
#endif
#endif

#include "veritas/infer/kernels.hpp"
#include "veritas/infer/qblocks_k.hpp"
#include "veritas/util/error.hpp"

namespace veritas::infer {

namespace {

using kq::Isa;
using kq::kScalar;
using kq::kAvx2;
using kq::kVnni;

Isa detect() {
#ifdef VERITAS_QB_VNNI
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
    return kVnni;
#endif
#ifdef VERITAS_QB_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kAvx2;
#endif
  return kScalar;
}

std::atomic<int> g_isa{-1};

Isa isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) g_isa.store(v = detect(), std::memory_order_relaxed);
  return (Isa)v;
}

bool is_kquant(Precision p) { return p == Precision::Q4_K || p == Precision::Q5_K || p == Precision::Q6_K; }

}  // namespace

const char* block_kernels() {
  switch (isa()) {
    case kVnni: return "avx512-vnni";
    case kAvx2: return "avx2";
    case kScalar: return "scalar";
  }
  return "?";
}

void set_block_kernels(std::string_view name) {
  Isa best = detect();
  Isa want = name == "avx512-vnni" ? kVnni : name == "avx2" ? kAvx2 : name == "scalar" ? kScalar : best;
  check(name == "avx512-vnni" || name == "avx2" || name == "scalar" || name == "auto",
        "block kernels: unknown instruction set '" + std::string(name) + "' (avx512-vnni, avx2, scalar, auto)");
  check(want <= best, "block kernels: this CPU (or build) cannot run " + std::string(name));
  g_isa.store(want, std::memory_order_relaxed);
}

QMatrix QMatrix::from_blocks(const void* blocks, int rows, int cols, Precision p) {
  return from_block_parts({{blocks, rows, p}}, cols);
}

QMatrix QMatrix::from_block_parts(const std::vector<BlockPart>& parts, int cols) {
  check(!parts.empty(), "QMatrix::from_block_parts: no parts");
  QMatrix m;
  m.prec_ = parts[0].p;
  m.cols_ = m.ld_ = cols;
  m.reads_x_ = false;
  size_t bytes = 0;
  for (const BlockPart& b : parts) {
    const Precision p = b.p;
    check(p == Precision::Q8_0 || p == Precision::Q4_0 || p == Precision::Q4_1 || p == Precision::Q5_0 || is_kquant(p) ||
              p == Precision::F16,
          "QMatrix::from_blocks: only Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q5_K, Q6_K blocks and F16 rows");
    const int qk = ggml_type_info((uint32_t)kq::ggml_type_of(p))->block;  // weights per block
    check(b.rows > 0 && cols > 0 && cols % qk == 0,
          "QMatrix::from_blocks: cols must be a positive multiple of " + std::to_string(qk));
    const size_t rb = (size_t)(cols / qk) * kq::block_bytes(p);
    (p == Precision::F16 ? m.reads_x_ : m.quant_acts_) = true;
    m.segs_.push_back({m.rows_, m.rows_ + b.rows, p, bytes, rb});
    m.rows_ += b.rows;
    // Interleaved types take whole groups of rows (the last one padded).
    bytes += rb * (kq::interleaved(p) ? (size_t)(b.rows + kq::kGroup - 1) / kq::kGroup * kq::kGroup : b.rows);
  }
  m.blk_.resize_weights(bytes);
  for (size_t i = 0; i < parts.size(); ++i) {
    const Seg& sg = m.segs_[i];
    uint8_t* dst = m.blk_.data() + sg.offset;
    if (kq::interleaved(sg.p)) kq::interleave(sg.p, static_cast<const uint8_t*>(parts[i].blocks), parts[i].rows, sg.row_bytes, dst);
    else std::memcpy(dst, parts[i].blocks, sg.row_bytes * parts[i].rows);
  }
  return m;
}

const QMatrix::Seg& QMatrix::seg_of(int r) const {
  for (const Seg& s : segs_)
    if (r < s.r1) return s;
  return segs_.back();
}

void QMatrix::matmul_blocks(const float* x, int ldx, const QuantActs* qa, int T, float* y, int ldy, int r0,
                            int r1) const {
  const Isa which = isa();
  for (const Seg& sg : segs_) {
    const int a = std::max(r0, sg.r0), b = std::min(r1, sg.r1);
    if (a >= b) continue;
    const uint8_t* base = blk_.data() + sg.offset;  // row sg.r0
    if (sg.p == Precision::F16) {
      kq::matmul_f16(which, base, sg.row_bytes, sg.r0, cols_, x, ldx, T, y, ldy, a, b);
      continue;
    }
    if (is_kquant(sg.p)) {
      kq::matmul(sg.p, which, base, sg.row_bytes, sg.r0, qa, T, y, ldy, a, b);
      continue;
    }
    check(kq::interleaved(sg.p), "QMatrix::matmul: no kernel for this block type");
    kq::matmul_x16(sg.p, which, base, sg.row_bytes, sg.r0, sg.r1 - sg.r0, qa, T, y, ldy, a, b);
  }
}

}  // namespace veritas::infer
