// K-quant block kernels (Q4_K, Q5_K, Q6_K read directly; infer/qblocks_k.cpp) against
// references: dequantize-then-fp64 on random blocks and on SmolLM2 tensors encoded by
// tests/reference/kquant_ref.py (whose encoders are checked against gguf.quants), and the
// whole model re-quantized to Q4_K / Q6_K against veritas fp32 and llama.cpp
// (llama-cpp-python). A missing package or model file fails the test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/infer/engine.hpp"
#include "veritas/infer/gguf_model.hpp"
#include "veritas/infer/sampler.hpp"
#include "veritas/model/gguf.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "block_kernel_check.hpp"
#include "reference_run.hpp"

using namespace veritas;
using namespace veritas::infer;
using namespace veritas::reference;

namespace {

// tests/reference/kquant_ref.py, once per mode and process.
struct RefDir : ReferenceRun {
  explicit RefDir(const std::string& mode) : ReferenceRun("kquant_ref.py", mode) {}
};

Precision prec_of(const std::string& t) {
  return t == "Q4_K" ? Precision::Q4_K : t == "Q5_K" ? Precision::Q5_K : Precision::Q6_K;
}
GgmlType ggml_of(Precision p) {
  return p == Precision::Q4_K ? GgmlType::Q4_K : p == Precision::Q5_K ? GgmlType::Q5_K : GgmlType::Q6_K;
}

// Two references on every instruction set this CPU runs:
//  1. the same quantized activations, dequantized weights, fp64 sum: the integer sums are
//     exact, so only fp32 rounding of the per-block products and the accumulation over
//     k blocks remains, about k * 2^-24 of the magnitude of the terms. The magnitude is
//     sum |d sc n x| + |dmin m x| (the two parts of a Q4_K/Q5_K weight are summed
//     separately and may cancel in w); bound 1e-6 of it (k <= 48 blocks here).
//  2. the unquantized fp32 activations, fp64 sum: activation quantization rounds each x
//     to the nearest multiple of its block's d_x = amax / 127, an error of at most d_x / 2,
//     so |y - y_exact| <= sum_c |w_c| d_x(c) / 2 (plus the bound of 1).
void check_kblocks(const uint8_t* blocks, int rows, int cols, Precision p, const std::string& what) {
  const QMatrix W = QMatrix::from_blocks(blocks, rows, cols, p);
  const int T = 7;  // a tile of 4 (VNNI) or three of 2 (AVX2), and the tokens left over
  const std::vector<float> x = random_acts(T, cols, 777);
  QuantActs qa;
  qa.quantize(x.data(), T, cols, cols);
  // |d sc n| and |dmin m| per weight: the row's blocks dequantized with dmin = 0 give the
  // first part (Q4_K/Q5_K; Q6_K has no min).
  const int bb = p == Precision::Q4_K ? 144 : p == Precision::Q5_K ? 176 : 210;
  const size_t rb = (size_t)cols / 256 * bb;
  std::vector<float> row(cols), scaled(cols);
  std::vector<uint8_t> nomin(rb);
  std::vector<double> ref((size_t)T * rows), mag((size_t)T * rows), exact((size_t)T * rows), qbound((size_t)T * rows);
  for (int r = 0; r < rows; ++r) {
    W.row_f32(r, row.data());
    scaled = row;
    if (p != Precision::Q6_K) {
      std::memcpy(nomin.data(), blocks + (size_t)r * rb, rb);
      for (size_t o = 0; o < rb; o += bb) nomin[o + 2] = nomin[o + 3] = 0;
      dequantize(ggml_of(p), nomin.data(), cols, scaled.data());
    }
    for (int t = 0; t < T; ++t) {
      double s = 0, m = 0, e = 0, qb = 0;
      for (int c = 0; c < cols; ++c) {
        const double d_x = qa.scale[(size_t)t * qa.blocks + c / kQBlock];
        const double xv = (double)qa.q[(size_t)t * qa.blocks * kQBlock + c] * d_x;
        s += (double)row[c] * xv;
        m += (std::fabs((double)scaled[c]) + std::fabs((double)scaled[c] - row[c])) * std::fabs(xv);
        e += (double)row[c] * x[(size_t)t * cols + c];
        qb += std::fabs((double)row[c]) * d_x / 2;
      }
      const size_t i = (size_t)t * rows + r;
      ref[i] = s, mag[i] = m, exact[i] = e, qbound[i] = qb;
    }
  }
  on_every_isa(
      W, qa, T,
      [&](const std::string& isa, const std::vector<float>& y) {
        double worst = 0, worst_q = 0;
        for (size_t i = 0; i < y.size(); ++i) {
          worst = std::max(worst, std::fabs(y[i] - ref[i]) / (mag[i] + 1e-30));
          worst_q = std::max(worst_q, std::fabs(y[i] - exact[i]) / (qbound[i] + 1e-6 * mag[i] + 1e-30));
        }
        std::printf("%-30s %-12s max |err| / sum|w x| = %.3g; vs fp32 x: max |err| / bound = %.3f\n",
                    what.c_str(), isa.c_str(), worst, worst_q);
        EXPECT_LE(worst, 1e-6) << what << " " << isa;
        EXPECT_LE(worst_q, 1.0) << what << " " << isa;
      },
      what);
}

}  // namespace

TEST(KQuantKernels, RandomBlocksMatchDequantizedReference) {
  const int rows = 37, cols = 1536;
  for (Precision p : {Precision::Q4_K, Precision::Q5_K, Precision::Q6_K}) {
    const int bb = p == Precision::Q4_K ? 144 : p == Precision::Q5_K ? 176 : 210;
    // Finite positive super-block scales: d (and dmin) at the start, Q6_K's d at the end.
    const std::vector<size_t> scales = p == Precision::Q6_K ? std::vector<size_t>{208} : std::vector<size_t>{0, 2};
    const std::vector<uint8_t> raw = random_blocks(rows, cols, 256, bb, 4242 + (int)p, scales, [](Lcg& g) {
      return (float)(1 + g.next() % 1000) * 1e-5f;
    });
    check_kblocks(raw.data(), rows, cols, p, std::string("random ") + precision_name(p));
  }
}

// SmolLM2's own weights encoded as K-quants: veritas dequantizes them exactly as
// gguf.quants does, and the kernels meet the bounds above.
TEST(KQuantKernels, SmolLM2TensorsMatchDequantizedReference) {
  RefDir ref("tensors");
  auto list = nlohmann::json::parse(read_file(ref.dir / "tensors.json"));
  ASSERT_EQ(list.size(), 12u);
  for (auto& e : list) {
    const std::string stem = e["stem"];
    const int rows = e["rows"], cols = e["cols"];
    Precision p = prec_of(e["type"]);
    std::string blocks = read_file(ref.dir / (stem + ".bin"));
    std::vector<float> want = read_vec<float>(ref.dir / (stem + ".f32")), got((size_t)rows * cols);
    ASSERT_EQ(want.size(), got.size()) << stem;
    dequantize(ggml_of(p), blocks.data(), (int64_t)rows * cols, got.data());
    EXPECT_EQ(got, want) << stem << ": veritas's dequantization differs from gguf.quants.dequantize";
    check_kblocks(reinterpret_cast<const uint8_t*>(blocks.data()), rows, cols, p, stem);
  }
}

// SmolLM2 with every matrix whose rows are a multiple of 256 (ffn_down, 1536) re-encoded
// as Q4_K or Q6_K (the others, 576 long, keep their Q4_1/Q8_0 blocks): --precision gguf
// reads those blocks (checked through the bytes it keeps) and agrees with veritas fp32 on
// the dequantized weights and with llama.cpp on the same file, top-1 at 1,024 positions.
TEST(KQuantKernels, SmolLM2RequantizedMatchesFp32AndLlamaCpp) {
  RefDir ref("model");
  auto meta = nlohmann::json::parse(read_file(ref.dir / "model.json"));
  std::vector<int32_t> ids = meta["ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(ids.size(), 1024u);
  EngineOptions o;
  o.load_tokenizer = false;
  o.context = 1100;
  o.precision = Precision::GGUF;
  const size_t base_bytes = Engine::load(smollm_path(), o).weight_bytes_per_token();
  for (auto& [type, f] : meta["files"].items()) {
    const std::string path = f["path"];
    std::vector<int32_t> top1 = f["top1"].get<std::vector<int32_t>>();
    o.precision = Precision::GGUF;
    Engine q = Engine::load(path, o);
    // ffn_down (30 x 576 x 1536) went from Q4_1 (20 bytes / 32) to the K type's blocks.
    const double per = type == "Q4_K" ? 144.0 / 256 : type == "Q6_K" ? 210.0 / 256 : 20.0 / 32;
    const double expect = (double)base_bytes + 30.0 * 576 * 1536 * (per - 20.0 / 32);
    EXPECT_EQ((double)q.weight_bytes_per_token(), expect) << type << ": K-quant blocks are not used as stored";
    o.precision = Precision::F32;
    Engine d = Engine::load(path, o);
    const int V = q.config().vocab_size, n = (int)ids.size();
    std::vector<float> lq((size_t)n * V), ld((size_t)n * V);
    KVCache cq = q.new_cache(), cd = d.new_cache();
    q.forward(cq, ids.data(), n, lq.data(), true);
    d.forward(cd, ids.data(), n, ld.data(), true);
    int same_fp32 = 0, same_llama = 0, fp32_llama = 0;
    double err = 0, scale = 0;
    for (int t = 0; t < n; ++t) {
      const float* a = lq.data() + (size_t)t * V;
      const float* b = ld.data() + (size_t)t * V;
      const int32_t am = argmax(a, V);
      same_fp32 += am == argmax(b, V);
      same_llama += am == top1[t];
      fp32_llama += argmax(b, V) == top1[t];
      for (int v = 0; v < V; ++v) {
        err = std::max(err, (double)std::fabs(a[v] - b[v]));
        scale = std::max(scale, (double)std::fabs(b[v]));
      }
    }
    std::printf("SmolLM2 ffn_down %s, %d positions: gguf vs fp32 max |err| / max |logit| = %.3g, top-1 %d/%d "
                "(%.1f%%); gguf vs llama.cpp top-1 %d/%d (%.1f%%); fp32 vs llama.cpp %d/%d (%.1f%%)\n",
                type.c_str(), n, err / scale, same_fp32, n, 100.0 * same_fp32 / n, same_llama, n, 100.0 * same_llama / n,
                fp32_llama, n, 100.0 * fp32_llama / n);
    // Bounds from the shipped Q4_1 file on the existing kernels (0.069, 96.4%, 96.2% when
    // measured; docs/models.md): the K-quant files must do about as well.
    EXPECT_LE(err / scale, 0.1) << type;
    EXPECT_GE(same_fp32, n * 95 / 100) << type;
    EXPECT_GE(same_llama, n * 93 / 100) << type;
  }
}

// A fused matrix whose parts have different block types (q/k Q4_K and v Q6_K in
// llama.cpp's Q4_K_M) gives, row for row, what each part gives on its own.
TEST(KQuantKernels, MixedTypePartsEqualSeparateMatrices) {
  const int cols = 512;
  uint64_t seed = 99;
  auto next = [&] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(seed >> 33);
  };
  struct Part {
    Precision p;
    int rows, bb, qk;
    std::vector<uint8_t> raw;
  };
  std::vector<Part> parts = {{Precision::Q4_K, 7, 144, 256, {}}, {Precision::Q6_K, 5, 210, 256, {}},
                             {Precision::Q8_0, 3, 34, 32, {}}, {Precision::Q5_K, 4, 176, 256, {}}};
  std::vector<QMatrix::BlockPart> bparts;
  int rows = 0;
  for (Part& pt : parts) {
    pt.raw.resize((size_t)pt.rows * cols / pt.qk * pt.bb);
    for (auto& b : pt.raw) b = (uint8_t)next();
    for (size_t o = 0; o < pt.raw.size(); o += pt.bb) {
      std::vector<size_t> at = pt.p == Precision::Q6_K ? std::vector<size_t>{208}
                               : pt.p == Precision::Q8_0 ? std::vector<size_t>{0}
                                                         : std::vector<size_t>{0, 2};
      for (size_t a : at) {
        uint16_t h = f32_to_f16((float)(1 + next() % 1000) * 1e-5f);
        std::memcpy(&pt.raw[o + a], &h, 2);
      }
    }
    bparts.push_back({pt.raw.data(), pt.rows, pt.p});
    rows += pt.rows;
  }
  QMatrix fused = QMatrix::from_block_parts(bparts, cols);
  ASSERT_EQ(fused.rows(), rows);
  const int T = 2;
  std::vector<float> x((size_t)T * cols);
  for (float& v : x) v = (float)((int)(next() % 2001) - 1000) * 1e-3f;
  QuantActs qa;
  qa.quantize(x.data(), T, cols, cols);
  std::vector<float> y((size_t)T * rows), row(cols), want_row(cols);
  fused.matmul(nullptr, 0, &qa, T, y.data(), rows, 0, rows);
  std::vector<float> y2((size_t)T * rows);
  fused.matmul(nullptr, 0, &qa, T, y2.data(), rows, 3, 14);  // a range across three parts
  int r0 = 0;
  for (Part& pt : parts) {
    QMatrix one = QMatrix::from_blocks(pt.raw.data(), pt.rows, cols, pt.p);
    std::vector<float> ys((size_t)T * pt.rows);
    one.matmul(nullptr, 0, &qa, T, ys.data(), pt.rows, 0, pt.rows);
    for (int r = 0; r < pt.rows; ++r) {
      fused.row_f32(r0 + r, row.data());
      one.row_f32(r, want_row.data());
      EXPECT_EQ(row, want_row) << precision_name(pt.p) << " row " << r;
      for (int t = 0; t < T; ++t) {
        EXPECT_EQ(y[(size_t)t * rows + r0 + r], ys[(size_t)t * pt.rows + r]) << precision_name(pt.p) << " row " << r;
        if (r0 + r >= 3 && r0 + r < 14) EXPECT_EQ(y2[(size_t)t * rows + r0 + r], ys[(size_t)t * pt.rows + r]);
      }
    }
    r0 += pt.rows;
  }
}

// The weights of a row range (the prefetch hint of a waiting decode thread): stored row
// after row for the K-quants, in whole groups of 16 rows for the interleaved types.
TEST(KQuantKernels, RowBytesCoverTheRowsWeights) {
  const int cols = 256, rows = 32;
  std::vector<uint8_t> q4k((size_t)rows * 144, 0), q41((size_t)rows * (cols / 32) * 20, 0);
  for (const auto& [raw, p] : {std::pair{&q4k, Precision::Q4_K}, std::pair{&q41, Precision::Q4_1}}) {
    const QMatrix W = QMatrix::from_blocks(raw->data(), rows, cols, p);
    const size_t row = raw->size() / rows;
    const QMatrix::Bytes all = W.row_bytes(0, rows), tail = W.row_bytes(16, rows);
    EXPECT_EQ(all.size, W.weight_bytes()) << precision_name(p);
    EXPECT_EQ(tail.data, all.data + 16 * row) << precision_name(p);
    EXPECT_EQ(tail.size, 16 * row) << precision_name(p);
    EXPECT_EQ(W.row_bytes(5, 5).size, 0u);
    EXPECT_EQ(W.row_bytes(-3, 100).size, all.size);  // clamped to the matrix
  }
  const QMatrix Q4K = QMatrix::from_blocks(q4k.data(), rows, cols, Precision::Q4_K);
  EXPECT_EQ(Q4K.row_bytes(3, 7).data, Q4K.row_bytes(0, rows).data + 3 * 144);
  EXPECT_EQ(Q4K.row_bytes(3, 7).size, 4u * 144);
}
