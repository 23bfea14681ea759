// The CUDA kernels against the CPU kernels (kernels/kernels.hpp), on a GPU machine:
// scripts/device-check runs this. Random inputs, several shapes (odd widths, one row,
// rows wider than a block); prints the worst error of each and exits 1 on a mismatch.
// `--libraries` only loads cuBLASLt and NCCL (no GPU needed; CTest runs it).
// Also checks that two runs give bit-identical results (the deterministic mode's basis),
// and that the embedding gradient and AdamW are bit-identical to the CPU's. Then the whole
// training step through the backend interface (check_training.cpp), and inference on the
// GPU (check_decode.cpp).
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "veritas/cuda/ops.hpp"
#include "veritas/kernels/kernels.hpp"
#include "veritas/train/adamw.hpp"
#include "veritas/util/error.hpp"

namespace cu = veritas::cuda;

namespace {

int failures = 0;

struct Buf {  // a device copy of a host vector
  void* p;
  size_t bytes;
  template <typename T>
  explicit Buf(const std::vector<T>& v) : p(cu::alloc(v.size() * sizeof(T))), bytes(v.size() * sizeof(T)) {
    cu::copy_to_device(p, v.data(), bytes);
  }
  ~Buf() { cu::free(p); }
  template <typename T>
  std::vector<T> get() const {
    std::vector<T> v(bytes / sizeof(T));
    cu::copy_to_host(v.data(), p, bytes);
    return v;
  }
  template <typename T>
  T* as() { return static_cast<T*>(p); }
};

uint16_t to_bf16(float f) {  // round to nearest even
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
float from_bf16(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void expect_close(const char* what, const std::vector<float>& got, const std::vector<float>& want, double tol) {
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double e = std::fabs(got[i] - want[i]) / (1.0 + std::fabs(want[i]));
    if (!(e <= worst)) worst = e, at = i;  // catches NaN too
  }
  bool ok = worst <= tol;
  std::printf("%-44s max rel err %.2e (tol %.0e) %s\n", what, worst, tol, ok ? "ok" : "MISMATCH");
  if (!ok) {
    std::printf("  at %zu: gpu %.9g cpu %.9g\n", at, got[at], want[at]);
    ++failures;
  }
}

std::vector<float> randn(std::mt19937& rng, size_t n, float scale) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = g(rng) * scale;
  return v;
}

void check_rmsnorm(int64_t N, int C, std::mt19937& rng) {
  std::vector<float> x = randn(rng, N * C, 2.0f), w = randn(rng, C, 1.0f), dy = randn(rng, N * C, 1.0f);
  const float eps = 1e-5f;
  std::string tag = "N=" + std::to_string(N) + " C=" + std::to_string(C);

  // fp32 forward
  std::vector<float> out(N * C), rstd(N);
  veritas::kernels::rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, eps);
  Buf dx_in(x), dw_in(w), d_out{std::vector<float>(N * C)}, d_rstd{std::vector<float>(N)};
  cu::rmsnorm_forward(d_out.as<float>(), d_rstd.as<float>(), dx_in.as<float>(), dw_in.as<float>(), N, C, eps);
  cu::synchronize();
  expect_close(("forward fp32 out " + tag).c_str(), d_out.get<float>(), out, 1e-5);
  expect_close(("forward fp32 rstd " + tag).c_str(), d_rstd.get<float>(), rstd, 1e-5);

  // bf16 forward against the CPU kernel on the same bf16-rounded inputs; the output
  // is rounded to bf16 once, so it may differ by one bf16 step (2^-8 relative).
  std::vector<uint16_t> xb(N * C), wb(C);
  std::vector<float> xr(N * C), wr(C);
  for (size_t i = 0; i < xb.size(); ++i) xr[i] = from_bf16(xb[i] = to_bf16(x[i]));
  for (int i = 0; i < C; ++i) wr[i] = from_bf16(wb[i] = to_bf16(w[i]));
  veritas::kernels::rmsnorm_forward(out.data(), rstd.data(), xr.data(), wr.data(), N, C, eps);
  Buf bx(xb), bw(wb), bout{std::vector<uint16_t>(N * C)};
  cu::rmsnorm_forward_bf16(bout.as<uint16_t>(), d_rstd.as<float>(), bx.as<uint16_t>(), bw.as<uint16_t>(), N, C, eps);
  cu::synchronize();
  std::vector<uint16_t> ob = bout.get<uint16_t>();
  std::vector<float> of(ob.size());
  for (size_t i = 0; i < ob.size(); ++i) of[i] = from_bf16(ob[i]);
  expect_close(("forward bf16 out " + tag).c_str(), of, out, 1.0 / 128);
  expect_close(("forward bf16 rstd " + tag).c_str(), d_rstd.get<float>(), rstd, 1e-5);

  // backward (adds into non-zero gradients, as the CPU kernel does)
  veritas::kernels::rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, eps);
  std::vector<float> dinp = randn(rng, N * C, 0.1f), dwv = randn(rng, C, 0.1f);
  Buf d_dinp(dinp), d_dw(dwv), d_dy(dy), d_r(rstd);
  veritas::kernels::rmsnorm_backward(dinp.data(), dwv.data(), dy.data(), x.data(), w.data(), rstd.data(), N, C);
  cu::rmsnorm_backward(d_dinp.as<float>(), d_dw.as<float>(), d_dy.as<float>(), dx_in.as<float>(), dw_in.as<float>(),
                       d_r.as<float>(), N, C);
  cu::synchronize();
  expect_close(("backward dinp " + tag).c_str(), d_dinp.get<float>(), dinp, 1e-4);
  expect_close(("backward dw " + tag).c_str(), d_dw.get<float>(), dwv, 1e-4 * std::sqrt(double(N)));

  // determinism: the same inputs give the same bits
  std::vector<float> zeros(C, 0.0f);
  Buf a(zeros), b(zeros), scratch{std::vector<float>(N * C, 0.0f)};
  cu::rmsnorm_backward(scratch.as<float>(), a.as<float>(), d_dy.as<float>(), dx_in.as<float>(), dw_in.as<float>(),
                       d_r.as<float>(), N, C);
  cu::rmsnorm_backward(scratch.as<float>(), b.as<float>(), d_dy.as<float>(), dx_in.as<float>(), dw_in.as<float>(),
                       d_r.as<float>(), N, C);
  cu::synchronize();
  bool same = a.get<float>() == b.get<float>();
  std::printf("%-44s %s\n", ("backward dw bit-identical twice " + tag).c_str(), same ? "ok" : "MISMATCH");
  if (!same) ++failures;
}


void expect_same(const char* what, bool same) {
  std::printf("%-44s %s\n", what, same ? "ok" : "MISMATCH");
  if (!same) ++failures;
}

// Repeated tokens on purpose: the embedding gradient must add rows that share a token.
void check_embedding(int64_t N, int C, int vocab, std::mt19937& rng) {
  std::string tag = "N=" + std::to_string(N) + " C=" + std::to_string(C);
  std::uniform_int_distribution<int32_t> tok(0, vocab - 1);
  std::vector<int32_t> tokens(N);
  for (auto& t : tokens) t = tok(rng);
  std::vector<float> table = randn(rng, (size_t)vocab * C, 1.0f), dout = randn(rng, N * C, 1.0f);
  std::vector<float> out(N * C, -7.0f);
  veritas::kernels::embedding_forward(out.data(), tokens.data(), table.data(), N, C);
  Buf d_tok(tokens), d_table(table), d_out{std::vector<float>(N * C, -7.0f)};
  cu::embedding_forward(d_out.as<float>(), d_tok.as<int32_t>(), d_table.as<float>(), N, C);
  cu::synchronize();
  expect_same(("embedding forward exact " + tag).c_str(), d_out.get<float>() == out);
  std::vector<float> dtable = randn(rng, (size_t)vocab * C, 0.1f);
  Buf d_dtable(dtable), d_dout(dout);
  veritas::kernels::embedding_backward(dtable.data(), dout.data(), tokens.data(), N, C);
  cu::embedding_backward(d_dtable.as<float>(), d_dout.as<float>(), d_tok.as<int32_t>(), N, C);
  cu::synchronize();
  expect_same(("embedding backward bit-identical " + tag).c_str(), d_dtable.get<float>() == dtable);
}

// q | k | v rows as the model lays them out: rotate the q heads of rows with a stride.
void check_rope(int B, int T, int heads, int hd, std::mt19937& rng) {
  std::string tag = "B=" + std::to_string(B) + " T=" + std::to_string(T) + " H=" + std::to_string(heads) +
                    " hd=" + std::to_string(hd);
  const int64_t stride = (int64_t)heads * hd + 2 * hd;  // room for one k and one v head after the q heads
  const int half = hd / 2;
  std::vector<float> cos_t((size_t)T * half), sin_t((size_t)T * half);
  veritas::kernels::rope_tables(cos_t.data(), sin_t.data(), T, hd, 100000.0f);
  std::vector<float> x = randn(rng, (size_t)B * T * stride, 1.0f), y = x;
  Buf d_cos(cos_t), d_sin(sin_t), d_x(x);
  veritas::kernels::rope_forward(y.data(), cos_t.data(), sin_t.data(), B, T, heads, hd, stride);
  cu::rope_forward(d_x.as<float>(), d_cos.as<float>(), d_sin.as<float>(), B, T, heads, hd, stride);
  cu::synchronize();
  expect_close(("rope forward " + tag).c_str(), d_x.get<float>(), y, 1e-6);
  veritas::kernels::rope_backward(y.data(), cos_t.data(), sin_t.data(), B, T, heads, hd, stride);
  cu::rope_backward(d_x.as<float>(), d_cos.as<float>(), d_sin.as<float>(), B, T, heads, hd, stride);
  cu::synchronize();
  expect_close(("rope backward " + tag).c_str(), d_x.get<float>(), y, 1e-6);
  expect_close(("rope backward undoes forward " + tag).c_str(), d_x.get<float>(), x, 1e-5);
}

void check_swiglu(int64_t N, int I, std::mt19937& rng) {
  std::string tag = "N=" + std::to_string(N) + " I=" + std::to_string(I);
  std::vector<float> gu = randn(rng, N * 2 * I, 3.0f), dout = randn(rng, N * I, 1.0f);
  std::vector<float> out(N * I), dgu(N * 2 * I);
  veritas::kernels::swiglu_forward(out.data(), gu.data(), N, I);
  veritas::kernels::swiglu_backward(dgu.data(), dout.data(), gu.data(), N, I);
  Buf d_gu(gu), d_dout(dout), d_out{std::vector<float>(N * I, -7.0f)};
  cu::swiglu_forward(d_out.as<float>(), d_gu.as<float>(), N, I);
  cu::swiglu_backward(d_gu.as<float>(), d_dout.as<float>(), d_gu.as<float>(), N, I);  // in place, as allowed
  cu::synchronize();
  expect_close(("swiglu forward " + tag).c_str(), d_out.get<float>(), out, 1e-5);
  expect_close(("swiglu backward (in place) " + tag).c_str(), d_gu.get<float>(), dgu, 1e-5);
}

// Grouped-query heads (H / KVH = 1, 2, 3), one position up to 300; probs poisoned first.
void check_attention(int B, int T, int H, int KVH, int hd, std::mt19937& rng) {
  std::string tag = "B=" + std::to_string(B) + " T=" + std::to_string(T) + " H=" + std::to_string(H) +
                    " KVH=" + std::to_string(KVH) + " hd=" + std::to_string(hd);
  const int64_t C = (int64_t)H * hd, LD = C + 2LL * KVH * hd;
  std::vector<float> qkv = randn(rng, (size_t)B * T * LD, 1.0f), dout = randn(rng, (size_t)B * T * C, 1.0f);
  std::vector<float> out((size_t)B * T * C), probs((size_t)B * H * T * T), dqkv((size_t)B * T * LD);
  veritas::kernels::attention_forward(out.data(), probs.data(), qkv.data(), B, T, H, KVH, hd);
  Buf d_qkv(qkv), d_out{std::vector<float>(out.size(), -7.0f)}, d_probs{std::vector<float>(probs.size(), -7.0f)};
  cu::attention_forward(d_out.as<float>(), d_probs.as<float>(), d_qkv.as<float>(), B, T, H, KVH, hd);
  cu::synchronize();
  expect_close(("attention forward out " + tag).c_str(), d_out.get<float>(), out, 1e-5);
  expect_close(("attention forward probs " + tag).c_str(), d_probs.get<float>(), probs, 1e-6);
  veritas::kernels::attention_backward(dqkv.data(), probs.data(), dout.data(), out.data(), qkv.data(), B, T, H, KVH,
                                       hd);
  Buf d_dout(dout), d_dqkv{std::vector<float>(dqkv.size(), -7.0f)}, d_out_cpu(out);
  cu::attention_backward(d_dqkv.as<float>(), d_probs.as<float>(), d_dout.as<float>(), d_out_cpu.as<float>(),
                         d_qkv.as<float>(), B, T, H, KVH, hd);
  cu::synchronize();
  expect_close(("attention backward dqkv " + tag).c_str(), d_dqkv.get<float>(), dqkv, 1e-4);
  expect_close(("attention backward score gradients " + tag).c_str(), d_probs.get<float>(), probs, 1e-5);
}

// Logits of several scales (a peaked row, a flat one), a mask with zeros, and a scale.
void check_cross_entropy(int64_t N, int V, bool masked, std::mt19937& rng) {
  std::string tag = "N=" + std::to_string(N) + " V=" + std::to_string(V) + (masked ? " masked" : "");
  std::vector<float> logits = randn(rng, N * V, 4.0f);
  std::uniform_int_distribution<int32_t> tok(0, V - 1);
  std::vector<int32_t> targets(N);
  for (auto& t : targets) t = tok(rng);
  std::vector<float> mask(N);
  for (int64_t n = 0; n < N; ++n) mask[n] = n % 3 == 1 ? 0.0f : 0.5f + (float)(n % 4);
  const float scale = 0.25f;
  std::vector<float> d = logits, row(N);
  const float loss = veritas::kernels::cross_entropy_fused(d.data(), row.data(), targets.data(),
                                                           masked ? mask.data() : nullptr, N, V, scale);
  Buf d_logits(logits), d_row{std::vector<float>(N, -7.0f)}, d_tg(targets), d_mask(mask);
  const float got = cu::cross_entropy_fused(d_logits.as<float>(), d_row.as<float>(), d_tg.as<int32_t>(),
                                            masked ? d_mask.as<float>() : nullptr, N, V, scale);
  expect_close(("cross-entropy loss " + tag).c_str(), {got}, {loss}, 1e-5);
  expect_close(("cross-entropy row losses " + tag).c_str(), d_row.get<float>(), row, 1e-5);
  expect_close(("cross-entropy dlogits " + tag).c_str(), d_logits.get<float>(), d, 1e-6);
}

// Two steps from non-zero moments, with and without decay: bit for bit.
void check_adamw(int64_t n, std::mt19937& rng) {
  std::string tag = "n=" + std::to_string(n);
  veritas::AdamWConfig cfg;
  std::vector<float> w = randn(rng, n, 1.0f), g = randn(rng, n, 0.1f), m = randn(rng, n, 0.01f), v(n);
  for (auto& x : v) x = std::fabs(randn(rng, 1, 0.001f)[0]);
  Buf dw(w), dg(g), dm(m), dv(v);
  for (int64_t t = 3; t <= 4; ++t)
    for (bool decay : {true, false}) {
      veritas::adamw_update(w.data(), g.data(), m.data(), v.data(), n, decay, 3e-4f, cfg, t);
      cu::adamw_update(dw.as<float>(), dg.as<float>(), dm.as<float>(), dv.as<float>(), n, decay, 3e-4f, cfg.beta1,
                       cfg.beta2, cfg.eps, cfg.weight_decay, t);
    }
  cu::synchronize();
  expect_same(("adamw weights bit-identical " + tag).c_str(), dw.get<float>() == w);
  expect_same(("adamw moments bit-identical " + tag).c_str(), dm.get<float>() == m && dv.get<float>() == v);
}

void check_sum_squares(int64_t n, std::mt19937& rng) {
  std::vector<float> x = randn(rng, n, 2.0f);
  long double want = 0;
  for (float f : x) want += (long double)f * f;
  Buf d(x), scratch{std::vector<double>(cu::kSumSquaresScratch)};
  const double got = cu::sum_squares(d.as<float>(), n, scratch.as<double>());
  const double twice = cu::sum_squares(d.as<float>(), n, scratch.as<double>());
  const double err = std::fabs((double)(got - want)) / (double)(want + 1e-300L);
  const bool ok = err <= 1e-12 && got == twice;
  std::printf("%-44s rel err %.2e (tol 1e-12), same twice: %s %s\n", ("sum of squares n=" + std::to_string(n)).c_str(),
              err, got == twice ? "yes" : "no", ok ? "ok" : "MISMATCH");
  if (!ok) ++failures;
}

// Self-play's per-token log-probabilities and their backward pass (in place, as the
// model calls it), with weights of both signs and some zero.
void check_logprobs(int64_t N, int V, std::mt19937& rng) {
  const std::string tag = "N=" + std::to_string(N) + " V=" + std::to_string(V);
  std::vector<float> logits = randn(rng, N * V, 4.0f), dlogp = randn(rng, N, 1.0f);
  for (int64_t n = 0; n < N; n += 3) dlogp[n] = 0.0f;
  std::uniform_int_distribution<int32_t> tok(0, V - 1);
  std::vector<int32_t> targets(N);
  for (auto& t : targets) t = tok(rng);
  std::vector<float> lse(N), logp(N), d = logits;
  veritas::kernels::cross_entropy_forward(lse.data(), logits.data(), targets.data(), nullptr, N, V);
  veritas::kernels::target_logprobs(logp.data(), logits.data(), lse.data(), targets.data(), N, V);
  veritas::kernels::logprob_backward(d.data(), d.data(), lse.data(), targets.data(), dlogp.data(), N, V);
  Buf g_logits(logits), g_lse{std::vector<float>(N)}, g_logp{std::vector<float>(N)}, g_tg(targets), g_dlogp(dlogp);
  cu::target_logprobs(g_logp.as<float>(), g_lse.as<float>(), g_logits.as<float>(), g_tg.as<int32_t>(), N, V);
  expect_close(("log-sum-exp " + tag).c_str(), g_lse.get<float>(), lse, 1e-5);
  expect_close(("target log-probabilities " + tag).c_str(), g_logp.get<float>(), logp, 1e-5);
  cu::logprob_backward(g_logits.as<float>(), g_logits.as<float>(), g_lse.as<float>(), g_tg.as<int32_t>(),
                       g_dlogp.as<float>(), N, V);
  expect_close(("log-probability backward " + tag).c_str(), g_logits.get<float>(), d, 1e-6);
}

// bf16: both sides round the inputs to bf16 and sum the products in fp32 (the CPU's
// --matmul bf16), so only the order of the sums differs.
void check_matmul(int64_t N, int C, int OC, bool bf16, std::mt19937& rng) {
  std::vector<float> x = randn(rng, N * C, 1.0f), w = randn(rng, (size_t)OC * C, 0.1f);
  std::vector<float> dy = randn(rng, N * OC, 1.0f), base = randn(rng, N * OC, 1.0f);
  std::vector<float> dx0 = randn(rng, N * C, 1.0f), dw0 = randn(rng, (size_t)OC * C, 1.0f);
  const std::string shape =
      std::to_string(N) + "x" + std::to_string(C) + "->" + std::to_string(OC) + (bf16 ? " bf16" : "");
  const double tol = bf16 ? 1e-4 : 1e-5;
  Buf scratch{std::vector<uint16_t>((size_t)cu::matmul_bf16_scratch(N, C, OC))};
  uint16_t* sc = bf16 ? scratch.as<uint16_t>() : nullptr;
  veritas::kernels::set_matmul_bf16(bf16);
  for (bool acc : {false, true}) {
    std::vector<float> y = base;
    veritas::kernels::matmul_forward(y.data(), x.data(), w.data(), N, C, OC, acc);
    Buf dx(x), dw(w), dout(base);
    cu::matmul_forward(dout.as<float>(), dx.as<float>(), dw.as<float>(), N, C, OC, acc, sc);
    const auto first = dout.get<float>();
    expect_close(("matmul forward " + shape + (acc ? " +=" : "")).c_str(), first, y, tol);
    if (!acc) {
      cu::matmul_forward(dout.as<float>(), dx.as<float>(), dw.as<float>(), N, C, OC, false, sc);
      expect_same(("matmul forward " + shape + " same twice").c_str(), dout.get<float>() == first);
    }
    std::vector<float> gx = dx0, gw = dw0;
    veritas::kernels::matmul_backward(gx.data(), gw.data(), dy.data(), x.data(), w.data(), N, C, OC, acc);
    Buf ddx(dx0), ddw(dw0), ddy(dy);
    cu::matmul_backward(ddx.as<float>(), ddw.as<float>(), ddy.as<float>(), dx.as<float>(), dw.as<float>(), N, C, OC,
                        acc, sc);
    expect_close(("matmul backward dinp " + shape + (acc ? " +=" : "")).c_str(), ddx.get<float>(), gx, tol);
    expect_close(("matmul backward dw " + shape).c_str(), ddw.get<float>(), gw, tol);
  }
  veritas::kernels::set_matmul_bf16(false);
}

// NCCL through its loader on the one GPU there is: a communicator of one rank, whose
// sum leaves the data as it was (several ranks need several GPUs).
void check_nccl(std::mt19937& rng) {
  char id[cu::kNcclIdBytes];
  cu::nccl_unique_id(id);
  void* comm = cu::nccl_init(id, 1, 0);
  std::vector<float> x = randn(rng, 1 << 20, 1.0f);
  Buf d(x);
  cu::nccl_start_sum(comm, d.as<float>(), (int64_t)x.size());
  cu::nccl_wait(comm);
  expect_same("NCCL all-reduce, one rank", d.get<float>() == x);
}

void check_scale(int64_t n, std::mt19937& rng) {
  std::vector<float> x = randn(rng, n, 3.0f), want = x;
  for (float& f : want) f *= 0.37f;
  Buf d(x);
  cu::scale(d.as<float>(), n, 0.37f);
  expect_same(("scale n=" + std::to_string(n)).c_str(), d.get<float>() == want);
}

}  // namespace

int check_training();  // check_training.cpp
int check_decode();    // check_decode.cpp
int check_decode_engine_on(const std::string& device, bool small);

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "--libraries") {  // CTest, on machines without a GPU
      cu::load_cublaslt();
      cu::load_nccl();
      std::printf("cuBLASLt (%s) and NCCL (%s) load, every entry point found\n", cu::kCublasLtSoname,
                  cu::kNcclSoname);
      return 0;
    }
    if (argc > 1 && std::string(argv[1]) == "--engine-check-on-cpu-staged") {
      // CTest: the engine comparison of check_decode.cpp with cpu-staged in the GPU's
      // place, on a small shape, so the check itself is known to work before a GPU runs it.
      const int f = check_decode_engine_on("cpu-staged", true);
      std::printf("%d mismatches\n", f);
      return f ? 1 : 0;
    }
    std::string why;
    int n = cu::device_count(&why);
    std::printf("%s\n", cu::summary().c_str());
    std::printf("cuBLASLt: %s\n", std::getenv("VERITAS_CUBLASLT") ? std::getenv("VERITAS_CUBLASLT") : cu::kCublasLtSoname);
    if (n == 0) {
      std::printf("no CUDA device: %s\n", why.c_str());
      return 2;
    }
    std::mt19937 rng(1234);
    for (auto [N, C] : std::vector<std::pair<int64_t, int>>{{1, 1}, {3, 7}, {64, 576}, {257, 768}, {1024, 4097}})
      check_rmsnorm(N, C, rng);
    for (auto [N, C] : std::vector<std::pair<int64_t, int>>{{1, 1}, {5, 7}, {300, 576}, {2048, 768}})
      check_embedding(N, C, 50, rng);
    for (auto [B, T, H, hd] : std::vector<std::array<int, 4>>{{1, 1, 1, 2}, {2, 7, 3, 64}, {4, 300, 9, 64}})
      check_rope(B, T, H, hd, rng);
    for (auto [N, I] : std::vector<std::pair<int64_t, int>>{{1, 1}, {7, 13}, {256, 1536}}) check_swiglu(N, I, rng);
    for (auto [B, T, H, KVH, hd] :
         std::vector<std::array<int, 5>>{{1, 1, 1, 1, 1}, {2, 7, 4, 2, 8}, {2, 300, 9, 3, 64}})
      check_attention(B, T, H, KVH, hd, rng);
    for (auto [N, V] : std::vector<std::pair<int64_t, int>>{{1, 1}, {3, 7}, {64, 49152}, {17, 50257}})
      for (bool masked : {false, true}) check_cross_entropy(N, V, masked, rng);
    for (auto [N, V] : std::vector<std::pair<int64_t, int>>{{1, 1}, {5, 7}, {64, 49152}}) check_logprobs(N, V, rng);
    for (int64_t n : {1, 7, 1000, 3 << 20}) check_adamw(n, rng);
    for (int64_t n : {1, 255, 1 << 20, 124 << 20}) check_sum_squares(n, rng);
    for (auto [N, C, OC] : std::vector<std::array<int, 3>>{{1, 1, 1}, {3, 7, 5}, {64, 576, 1728}, {257, 768, 50257}})
      for (bool bf16 : {false, true}) check_matmul(N, C, OC, bf16, rng);
    for (int64_t n : {1, 1000, 3 << 20}) check_scale(n, rng);
    check_nccl(rng);
    failures += check_training();
    failures += check_decode();
  } catch (const veritas::Error& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
  std::printf("%d mismatches\n", failures);
  return failures ? 1 : 0;
}
