// F16 weights read directly (infer/qblocks_f16.cpp) against an independent reference: the
// fp64 sum of the exactly widened weights times x, on random halves and on SmolLM2 tensors
// rounded to fp16 as bench/generate-vs-llamacpp/requant.py rounds them, on every
// instruction set this CPU runs. And for every block kernel (F16, Q8_0, Q4_0, Q4_1, Q5_0):
// a (row, token) result is bit-identical whatever the number of tokens in the call and
// whatever rows it is grouped with (the engine relies on it: a prompt in one pass equals
// the same tokens one at a time).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "veritas/infer/kernels.hpp"
#include "veritas/model/gguf.hpp"
#include "veritas/model/quant.hpp"
#include "veritas/util/error.hpp"
#include "block_kernel_check.hpp"
#include "reference_run.hpp"

using namespace veritas;
using namespace veritas::infer;
using namespace veritas::reference;

namespace {

// The instruction sets this CPU runs ("scalar" first).
std::vector<std::string> isas() {
  std::vector<std::string> v = {"scalar"};
  for (const char* s : {"avx2", "avx512-vnni"}) {
    try {
      set_block_kernels(s);
      v.push_back(s);
    } catch (const Error&) {
    }
  }
  set_block_kernels("auto");
  return v;
}

// Random finite halves: every exponent (subnormals included) but 31 (inf / NaN), either sign.
std::vector<uint16_t> random_halves(size_t n, uint64_t seed) {
  Lcg g(seed);
  std::vector<uint16_t> h(n);
  for (auto& v : h) {
    do v = (uint16_t)g.next();
    while (((v >> 10) & 0x1F) == 0x1F);
  }
  return h;
}

// y = W x on every instruction set against fp64: the fp32 sum of a (row, token) is a chain
// of k = cols/16 fused multiply-adds per lane, 4 lane additions and cols%16 tail terms, so
// it is within k * 2^-24 * sum |w x| of the exact sum. The kernels share one arithmetic, so
// every instruction set gives the same bits.
void check_f16(const std::vector<uint16_t>& h, int rows, int cols, const std::string& what) {
  const int T = 5;
  const QMatrix W = QMatrix::from_blocks(h.data(), rows, cols, Precision::F16);
  ASSERT_FALSE(W.uses_quant_acts());
  const std::vector<float> x = random_acts(T, cols, 777);
  std::vector<double> ref((size_t)T * rows), mag((size_t)T * rows);
  std::vector<float> row(cols);
  for (int r = 0; r < rows; ++r) {
    W.row_f32(r, row.data());
    for (int c = 0; c < cols; ++c) ASSERT_EQ(row[c], f16_to_f32(h[(size_t)r * cols + c])) << what;
    for (int t = 0; t < T; ++t) {
      double s = 0, m = 0;
      for (int c = 0; c < cols; ++c) {
        const double p = (double)f16_to_f32(h[(size_t)r * cols + c]) * x[(size_t)t * cols + c];  // exact
        s += p, m += std::fabs(p);
      }
      ref[(size_t)t * rows + r] = s, mag[(size_t)t * rows + r] = m;
    }
  }
  const double k = cols / 16 + 4 + cols % 16;
  std::vector<float> first;
  for (const std::string& isa : isas()) {
    set_block_kernels(isa);
    std::vector<float> y((size_t)T * rows);
    W.matmul(x.data(), cols, nullptr, T, y.data(), rows, 0, rows);
    double worst = 0;
    for (size_t i = 0; i < y.size(); ++i)
      worst = std::max(worst, std::fabs(y[i] - ref[i]) / (k * std::ldexp(1.0, -24) * mag[i] + 1e-300));
    std::printf("%-26s %-12s max |err| / (k 2^-24 sum|w x|) = %.3g (k = %.0f)\n", what.c_str(), isa.c_str(), worst, k);
    EXPECT_LE(worst, 1.0) << what << " " << isa;
    if (first.empty()) first = y;
    else EXPECT_EQ(y, first) << what << ": " << isa << " differs from scalar";
  }
  set_block_kernels("auto");
}

}  // namespace

TEST(F16Kernels, RandomHalvesMatchFp64Reference) {
  // Columns a multiple of 32, of 16 only, and with a tail past the last multiple of 16.
  for (int cols : {1536, 576 + 16, 1000, 7}) {
    const int rows = 37;
    check_f16(random_halves((size_t)rows * cols, 5 + cols), rows, cols, "random f16 cols " + std::to_string(cols));
  }
}

TEST(F16Kernels, SmolLM2TensorsMatchFp64Reference) {
  GgufFile f = GgufFile::open(smollm_path());
  for (const char* name : {"blk.0.attn_q.weight", "blk.7.ffn_down.weight", "blk.29.ffn_gate.weight", "token_embd.weight"}) {
    const GgufTensor* t = f.find(name);
    ASSERT_NE(t, nullptr) << name;
    const int rows = (int)std::min<int64_t>(t->dims[1], 512), cols = (int)t->dims[0];
    std::vector<float> w((size_t)t->dims[1] * cols);
    f.read_f32(name, (int64_t)w.size(), w.data());
    std::vector<uint16_t> h((size_t)rows * cols);
    for (size_t i = 0; i < h.size(); ++i) h[i] = f32_to_f16(w[i]);  // numpy's astype(float16)
    check_f16(h, rows, cols, name);
  }
}

TEST(F16Kernels, RefusesMissingActivations) {
  const std::vector<uint16_t> h = random_halves(4 * 32, 1);
  const QMatrix W = QMatrix::from_blocks(h.data(), 4, 32, Precision::F16);
  std::vector<float> y(4);
  EXPECT_THROW(W.matmul(nullptr, 32, nullptr, 1, y.data(), 4, 0, 4), Error);
}

namespace {

// y for tokens [0, T) in one call, rows [r0, r1).
std::vector<float> run(const QMatrix& W, const std::vector<float>& x, int T, int r0, int r1) {
  const int cols = W.cols();
  QuantActs qa;
  qa.quantize(x.data(), T, cols, cols);
  std::vector<float> y((size_t)T * W.rows(), NAN);
  W.matmul(x.data(), cols, &qa, T, y.data(), W.rows(), r0, r1);
  return y;
}

}  // namespace

// Prompt processing multiplies each weight block into several tokens per call (F16: 4 on
// AVX-512, 2 on AVX2; block types: 4 on VNNI, 2 on AVX2): every (row, token) must equal
// that token alone and that row in any grouping, bit for bit, on every instruction set.
// A stacked matrix (F16 rows then Q8_0 rows) gives each part's own results.
TEST(BlockKernels, ResultIndependentOfTokensAndRowGrouping) {
  const int rows = 39, cols = 256, T = 11;
  const std::vector<float> x = random_acts(T, cols, 4242);
  std::vector<std::pair<Precision, std::vector<uint8_t>>> mats;
  {
    const std::vector<uint16_t> h = random_halves((size_t)rows * cols, 9);
    std::vector<uint8_t> raw(h.size() * 2);
    std::memcpy(raw.data(), h.data(), raw.size());
    mats.push_back({Precision::F16, raw});
  }
  for (Precision p : {Precision::Q8_0, Precision::Q4_0, Precision::Q4_1, Precision::Q5_0}) {
    const int bb = p == Precision::Q8_0 ? 34 : p == Precision::Q4_0 ? 18 : p == Precision::Q5_0 ? 22 : 20;
    const std::vector<size_t> scales = p == Precision::Q4_1 ? std::vector<size_t>{0, 2} : std::vector<size_t>{0};
    mats.push_back({p, random_blocks(rows, cols, 32, bb, 31 + (int)p, scales,
                                     [](Lcg& g) { return ((float)(g.next() % 2000) - 1000.0f) * 1e-4f; })});
  }
  for (const std::string& isa : isas()) {
    set_block_kernels(isa);
    for (auto& [p, raw] : mats) {
      const std::string what = std::string(precision_name(p)) + " on " + isa;
      const QMatrix W = QMatrix::from_blocks(raw.data(), rows, cols, p);
      const std::vector<float> all = run(W, x, T, 0, rows);
      for (int t = 0; t < T; ++t) {
        const std::vector<float> xt(x.begin() + (size_t)t * cols, x.begin() + (size_t)(t + 1) * cols);
        const std::vector<float> one = run(W, xt, 1, 0, rows);
        for (int r = 0; r < rows; ++r) ASSERT_EQ(one[r], all[(size_t)t * rows + r]) << what << " token " << t << " row " << r;
      }
      // Rows 1..37 (a different grouping into fours and ones), tokens 3..9 (7: no multiple of 2 or 4).
      std::vector<float> xs(x.begin() + 3 * cols, x.begin() + 10 * cols);
      const std::vector<float> part = run(W, xs, 7, 1, rows - 1);
      for (int t = 0; t < 7; ++t)
        for (int r = 1; r < rows - 1; ++r)
          ASSERT_EQ(part[(size_t)t * rows + r], all[(size_t)(t + 3) * rows + r]) << what << " token " << t + 3 << " row " << r;
    }
    // F16 rows stacked on Q8_0 rows: each part's results unchanged.
    const QMatrix S = QMatrix::from_block_parts({{mats[1].second.data(), rows, Precision::Q8_0},
                                                 {mats[0].second.data(), rows, Precision::F16}},
                                                cols);
    ASSERT_TRUE(S.uses_quant_acts());
    const int R = 2 * rows;
    QuantActs qa;
    qa.quantize(x.data(), T, cols, cols);
    std::vector<float> ys((size_t)T * R);
    S.matmul(x.data(), cols, &qa, T, ys.data(), R, 0, R);
    const std::vector<float> q8 = run(QMatrix::from_blocks(mats[1].second.data(), rows, cols, Precision::Q8_0), x, T, 0, rows);
    const std::vector<float> f16 = run(QMatrix::from_blocks(mats[0].second.data(), rows, cols, Precision::F16), x, T, 0, rows);
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < rows; ++r) {
        ASSERT_EQ(ys[(size_t)t * R + r], q8[(size_t)t * rows + r]) << isa << " stacked q8_0 row " << r;
        ASSERT_EQ(ys[(size_t)t * R + rows + r], f16[(size_t)t * rows + r]) << isa << " stacked f16 row " << r;
      }
  }
  set_block_kernels("auto");
}
