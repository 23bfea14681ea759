// The CUDA kernels against the CPU kernels (kernels/kernels.hpp), on a GPU machine:
// scripts/device-check runs this. Random inputs, several shapes (odd widths, one row,
// rows wider than a block); prints the worst error of each and exits 1 on a mismatch.
// Also checks that two runs give bit-identical results (the deterministic mode's basis).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "veritas/cuda/ops.hpp"
#include "veritas/kernels/kernels.hpp"
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

void check_shape(int64_t N, int C, std::mt19937& rng) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  auto randn = [&](size_t n, float scale) {
    std::vector<float> v(n);
    for (float& x : v) x = g(rng) * scale;
    return v;
  };
  std::vector<float> x = randn(N * C, 2.0f), w = randn(C, 1.0f), dy = randn(N * C, 1.0f);
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
  std::vector<float> dinp = randn(N * C, 0.1f), dwv = randn(C, 0.1f);
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

}  // namespace

int main() {
  try {
    std::string why;
    int n = cu::device_count(&why);
    std::printf("%s\n", cu::summary().c_str());
    if (n == 0) {
      std::printf("no CUDA device: %s\n", why.c_str());
      return 2;
    }
    std::mt19937 rng(1234);
    for (auto [N, C] : std::vector<std::pair<int64_t, int>>{{1, 1}, {3, 7}, {64, 576}, {257, 768}, {1024, 4097}})
      check_shape(N, C, rng);
  } catch (const veritas::Error& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
  std::printf("%d mismatches\n", failures);
  return failures ? 1 : 0;
}
