// Inference on the GPU (infer --device cuda) against the CPU: each decode kernel
// (cuda/decode.cu, the bf16-weight products in matmul.cu) against kernels/decode.hpp on
// random inputs, then the engine on the GPU against the engine on the CPU — a model of
// SmolLM2-135M's shape with random weights (the GPU machine has no model files): logits
// of a prompt, token-by-token decode, a batch of forked caches, greedy text.
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "veritas/cuda/ops.hpp"
#include "veritas/infer/engine.hpp"
#include "veritas/kernels/decode.hpp"
#include "veritas/kernels/kernels.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/half.hpp"
#include "veritas/util/rng.hpp"

namespace cu = veritas::cuda;
namespace k = veritas::kernels;
using namespace veritas;
using namespace veritas::infer;

namespace {

int failures = 0;

void report(const std::string& what, double err, double tol) {
  const bool ok = err <= tol;  // false for NaN
  std::printf("%-52s max err %.2e (tol %.0e) %s\n", what.c_str(), err, tol, ok ? "ok" : "MISMATCH");
  failures += !ok;
}

struct Dev {  // a device copy of a host vector
  void* p;
  size_t bytes;
  template <typename T>
  explicit Dev(const std::vector<T>& v) : p(cu::alloc(std::max<size_t>(1, v.size() * sizeof(T)))), bytes(v.size() * sizeof(T)) {
    if (bytes) cu::copy_to_device(p, v.data(), bytes);
  }
  ~Dev() { cu::free(p); }
  template <typename T>
  std::vector<T> get() const {
    std::vector<T> v(bytes / sizeof(T));
    if (bytes) cu::copy_to_host(v.data(), p, bytes);
    return v;
  }
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
};

std::vector<float> randn(std::mt19937& rng, size_t n, float scale) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = g(rng) * scale;
  return v;
}

// max |got - want| / (1 + |want|)
double err_of(const std::vector<float>& got, const std::vector<float>& want) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double e = std::fabs(got[i] - want[i]) / (1.0 + std::fabs(want[i]));
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

void check_matmul_bf16(int N, int C, int OC, std::mt19937& rng) {
  std::vector<float> x = randn(rng, (size_t)N * C, 1.0f), base = randn(rng, (size_t)N * OC, 1.0f);
  std::vector<uint16_t> w((size_t)OC * C);
  std::vector<float> wf = randn(rng, w.size(), 0.1f);
  for (size_t i = 0; i < w.size(); ++i) w[i] = f32_to_bf16(wf[i]);
  Dev dx(x), dw(w), scratch{std::vector<uint16_t>((size_t)cu::matmul_bf16_scratch(N, C, 0))};
  for (bool acc : {false, true}) {
    std::vector<float> y = base;
    k::matmul_bf16_weights(y.data(), x.data(), w.data(), N, C, OC, acc);
    Dev dy(base);
    cu::matmul_bf16_weights(dy.as<float>(), dx.as<float>(), dw.as<uint16_t>(), N, C, OC, acc, scratch.as<uint16_t>());
    cu::synchronize();
    report("matmul bf16 weights " + std::to_string(N) + "x" + std::to_string(C) + "->" + std::to_string(OC) +
               (acc ? " +=" : ""),
           err_of(dy.get<float>(), y), 1e-5);
  }
}

void check_matmul_q8(int N, int C, int OC, std::mt19937& rng) {
  std::vector<float> x = randn(rng, (size_t)N * C, 1.0f), base = randn(rng, (size_t)N * OC, 1.0f);
  std::vector<float> scale = randn(rng, (size_t)OC * C / 32, 0.01f);
  std::vector<int8_t> q((size_t)OC * C);
  for (auto& v : q) v = (int8_t)((int)(rng() % 255) - 127);
  Dev dx(x), dq(q), ds(scale);
  for (bool acc : {false, true}) {
    std::vector<float> y = base;
    k::matmul_q8_weights(y.data(), x.data(), q.data(), scale.data(), N, C, OC, acc);
    Dev dy(base);
    cu::matmul_q8_weights(dy.as<float>(), dx.as<float>(), dq.as<int8_t>(), ds.as<float>(), N, C, OC, acc);
    cu::synchronize();
    report("matmul q8 weights " + std::to_string(N) + "x" + std::to_string(C) + "->" + std::to_string(OC) +
               (acc ? " +=" : ""),
           err_of(dy.get<float>(), y), 1e-5);
  }
}

void check_small_ops(int T, int H, int KVH, int hd, std::mt19937& rng) {
  const std::string tag = "T=" + std::to_string(T) + " H=" + std::to_string(H) + " KVH=" + std::to_string(KVH) +
                          " hd=" + std::to_string(hd);
  const int qd = H * hd, kvd = KVH * hd, ld = qd + 2 * kvd, cap = 320;
  // bias
  std::vector<float> x = randn(rng, (size_t)T * ld, 1.0f), b = randn(rng, ld, 1.0f), y = x;
  k::add_bias(y.data(), b.data(), T, ld);
  Dev dx(x), db(b);
  cu::add_bias(dx.as<float>(), db.as<float>(), T, ld);
  cu::synchronize();
  report("add_bias " + tag, err_of(dx.get<float>(), y), 0);
  // rope at scattered positions
  const int half = hd / 2;
  std::vector<float> cos_t((size_t)cap * half), sin_t((size_t)cap * half);
  k::rope_tables(cos_t.data(), sin_t.data(), cap, hd, 100000.0f);
  std::vector<int32_t> pos(T);
  for (int t = 0; t < T; ++t) pos[t] = (int32_t)(rng() % cap);
  Dev dcos(cos_t), dsin(sin_t), dpos(pos);
  k::rope_at(y.data(), cos_t.data(), sin_t.data(), pos.data(), T, H, hd, ld);
  cu::rope_at(dx.as<float>(), dcos.as<float>(), dsin.as<float>(), dpos.as<int32_t>(), T, H, hd, ld);
  cu::synchronize();
  report("rope_at " + tag, err_of(dx.get<float>(), y), 1e-6);
  // keys into a cache of `cap` rows at the tokens' positions (distinct per token), then
  // attention over rows 0..pos of the same cache; the cache fp32, then fp16
  for (int t = 0; t < T; ++t) pos[t] = (int32_t)((cap - 1 - t * 37 % cap + cap) % cap);
  Dev dpos2(pos);
  for (bool f16 : {false, true}) {
    const size_t elem = f16 ? 2 : 4, row = (size_t)kvd * elem;
    const std::string ctag = tag + (f16 ? " fp16 cache" : " fp32 cache");
    // Random caches, stored in the cache's type.
    auto random_cache = [&] {
      std::vector<float> v = randn(rng, (size_t)cap * kvd, 1.0f);
      std::vector<uint8_t> bytes((size_t)cap * row);
      for (size_t i = 0; i < v.size(); ++i) {
        if (f16) {
          const uint16_t h = f32_to_f16(v[i]);
          std::memcpy(bytes.data() + 2 * i, &h, 2);
        } else {
          std::memcpy(bytes.data() + 4 * i, &v[i], 4);
        }
      }
      return bytes;
    };
    auto widen = [&](const std::vector<uint8_t>& bytes) {
      std::vector<float> v(bytes.size() / elem);
      for (size_t i = 0; i < v.size(); ++i) {
        if (f16) {
          uint16_t h;
          std::memcpy(&h, bytes.data() + 2 * i, 2);
          v[i] = f16_to_f32(h);
        } else {
          std::memcpy(&v[i], bytes.data() + 4 * i, 4);
        }
      }
      return v;
    };
    std::vector<uint8_t> cache_k = random_cache(), cache_v = random_cache();
    Dev dk(cache_k), dv(cache_v);
    std::vector<void*> hk(T), hv(T), dkp(T), dvp(T);
    std::vector<const void*> hkb(T, cache_k.data()), hvb(T, cache_v.data()), dkb(T, dk.p), dvb(T, dv.p);
    for (int t = 0; t < T; ++t) {
      hk[t] = cache_k.data() + pos[t] * row, hv[t] = cache_v.data() + pos[t] * row;
      dkp[t] = dk.as<uint8_t>() + pos[t] * row, dvp[t] = dv.as<uint8_t>() + pos[t] * row;
    }
    Dev d_dkp(dkp), d_dvp(dvp), d_dkb(dkb), d_dvb(dvb);
    k::scatter_rows(hk.data(), y.data() + qd, ld, T, kvd, f16);
    k::scatter_rows(hv.data(), y.data() + qd + kvd, ld, T, kvd, f16);
    cu::scatter_rows(d_dkp.as<void*>(), dx.as<float>() + qd, ld, T, kvd, f16);
    cu::scatter_rows(d_dvp.as<void*>(), dx.as<float>() + qd + kvd, ld, T, kvd, f16);
    cu::synchronize();
    // The rows written come from rotations that agree to 1e-6, so a half may differ by
    // one step (2^-11 relative).
    const double tol = f16 ? 1e-3 : 1e-6;
    report("scatter_rows keys " + ctag, err_of(widen(dk.get<uint8_t>()), widen(cache_k)), tol);
    report("scatter_rows values " + ctag, err_of(widen(dv.get<uint8_t>()), widen(cache_v)), tol);
    std::vector<float> out((size_t)T * qd, -7.0f);  // the device's copy starts poisoned
    Dev dout(out);
    k::attention_cached(out.data(), y.data(), ld, hkb.data(), hvb.data(), pos.data(), T, H, KVH, hd, kvd, f16);
    cu::attention_cached(dout.as<float>(), dx.as<float>(), ld, d_dkb.as<const void*>(), d_dvb.as<const void*>(),
                         dpos2.as<int32_t>(), T, H, KVH, hd, kvd, f16);
    cu::synchronize();
    report("attention_cached " + ctag, err_of(dout.get<float>(), out), f16 ? 1e-4 : 1e-5);
  }
}

// SmolLM2-135M's shape, or (small) a 2-layer one with the same heads.
ModelConfig model_shape(bool small) {
  ModelConfig c;
  c.vocab_size = small ? 512 : 49152, c.hidden_size = 576, c.intermediate_size = 1536;
  c.num_hidden_layers = small ? 2 : 30;
  c.num_attention_heads = 9, c.num_key_value_heads = 3, c.rope_theta = 100000, c.max_position_embeddings = 256;
  c.tie_word_embeddings = true;
  return c;
}

Engine engine(const std::string& device, Precision p, bool small, bool record = true, KVType kv = KVType::F32) {
  EngineOptions o;
  o.precision = p;
  o.device = device;
  o.record_steps = record;
  o.kv_cache = kv;
  return Engine::from_weights(model_shape(small), [](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
    if (name == "lm_head.weight") return false;
    int64_t n = 1;
    for (auto s : shape) n *= s;
    Rng r(std::hash<std::string>{}(name));
    const float scale = shape.size() == 1 ? 0.1f : 1.0f / std::sqrt((float)shape[1]);
    for (int64_t i = 0; i < n; ++i) dst[i] = (shape.size() == 1 ? 1.0f : 0.0f) + scale * (float)r.normal();
    return true;
  }, o);
}

double rel(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0, s = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, (double)std::fabs(a[i] - b[i])), s = std::max(s, (double)std::fabs(b[i]));
  return e / s;
}

// The engine on `device` (the GPU) against a CPU engine with the same semantics: fp32
// weights against the CPU engine; bf16 weights against the cpu-staged backend (the same
// rounding of weights and product inputs, on the CPU's kernels).
void check_engine(Precision p, const std::string& reference, const std::string& device, bool small,
                  KVType kv = KVType::F32) {
  const std::string tag = std::string(p == Precision::F32 ? "fp32" : p == Precision::GGUF ? "q8" : "bf16") +
                          " weights" + (kv == KVType::F16 ? ", fp16 cache" : "") + " vs " + reference;
  Engine ref = engine(reference, p, small, true, kv), gpu = engine(device, p, small, true, kv);
  std::printf("engine (SmolLM2 shape%s, random weights, %s): %s\n", small ? ", 2 layers" : "", tag.c_str(),
              gpu.device().c_str());
  const int V = model_shape(small).vocab_size;
  Rng r(5);
  std::vector<int32_t> prompt(40);
  for (auto& t : prompt) t = (int32_t)r.below(V);
  std::vector<float> a(prompt.size() * V), b(a.size());
  KVCache ca = ref.new_cache(), cb = gpu.new_cache();
  ref.forward(ca, prompt.data(), (int)prompt.size(), a.data(), true);
  gpu.forward(cb, prompt.data(), (int)prompt.size(), b.data(), true);
  report("engine prefill, 40 tokens, " + tag, rel(b, a), 1e-4);
  double dec = 0;
  for (int s = 0; s < 16; ++s) {
    int32_t id = (int32_t)r.below(V);
    std::vector<float> la(V), lb(V);
    ref.forward(ca, &id, 1, la.data());
    gpu.forward(cb, &id, 1, lb.data());
    dec = std::max(dec, rel(lb, la));
  }
  report("engine decode, 16 steps, " + tag, dec, 1e-4);
  std::vector<KVCache> fa, fb;
  std::vector<KVCache*> pa, pb;
  std::vector<int32_t> ids;
  for (int k2 = 0; k2 < 12; ++k2) {  // 12 sequences: more than the gemv kernel's 8 tokens
    fa.push_back(ca.fork()), fb.push_back(cb.fork());
    fa.back().truncate(30 + k2), fb.back().truncate(30 + k2);
    ids.push_back((int32_t)r.below(V));
  }
  for (int k2 = 0; k2 < 12; ++k2) pa.push_back(&fa[k2]), pb.push_back(&fb[k2]);
  std::vector<float> ba((size_t)12 * V), bb(ba.size());
  ref.forward_batch(pa, ids.data(), ba.data());
  gpu.forward_batch(pb, ids.data(), bb.data());
  report("engine batch of 12 forked caches, " + tag, rel(bb, ba), 1e-4);
  SamplingOptions so;
  so.temperature = 0;
  so.max_tokens = 32;
  so.stop_at_end_tokens = false;
  const auto ga = ref.generate(prompt, so).tokens, gb = gpu.generate(prompt, so).tokens;
  size_t same = 0;
  while (same < std::min(ga.size(), gb.size()) && ga[same] == gb[same]) ++same;
  std::printf("  greedy: the same first %zu of 32 tokens (random weights: near-ties may part them)\n", same);
}

}  // namespace

int check_decode_engine_on(const std::string& device, bool small);

int check_decode() {
  std::mt19937 rng(99);
  for (auto [N, C, OC] : std::vector<std::array<int, 3>>{{1, 1, 1}, {1, 13, 7}, {3, 576, 1728}, {8, 576, 49152},
                                                          {9, 576, 1536}, {64, 1536, 576}})
    check_matmul_bf16(N, C, OC, rng);
  for (auto [N, C, OC] : std::vector<std::array<int, 3>>{{1, 32, 1}, {3, 576, 1728}, {8, 1536, 576}, {20, 576, 49152}})
    check_matmul_q8(N, C, OC, rng);
  for (auto [T, H, KVH, hd] : std::vector<std::array<int, 4>>{{1, 1, 1, 2}, {5, 4, 2, 12}, {64, 9, 3, 64},
                                                                {3, 8, 8, 256}})
    check_small_ops(T, H, KVH, hd, rng);
  return failures + check_decode_engine_on("cuda", false);
}

// Decode steps replayed from recordings (CUDA graphs) against the same steps launched one
// kernel at a time: the same kernels on the same data, so the same bits. One sequence,
// then a batch of 12 (the cuBLASLt path), then one sequence after a prefill that grows
// the buffers (recordings dropped and made again).
void check_recorded(const std::string& device, bool small) {
  Engine plain = engine(device, Precision::BF16, small, false), rec = engine(device, Precision::BF16, small, true);
  const int V = model_shape(small).vocab_size;
  auto steps = [&](Engine& e) {
    Rng r(8);
    std::vector<float> out, l(V);
    KVCache c = e.new_cache();
    std::vector<int32_t> ids(8);
    for (auto& t : ids) t = (int32_t)r.below(V);
    e.forward(c, ids.data(), 8, l.data());
    for (int s = 0; s < 6; ++s) {
      int32_t id = (int32_t)r.below(V);
      e.forward(c, &id, 1, l.data());
      out.insert(out.end(), l.begin(), l.end());
    }
    std::vector<KVCache> forks;
    std::vector<KVCache*> ptrs;
    for (int k = 0; k < 12; ++k) forks.push_back(c.fork());
    for (auto& f : forks) ptrs.push_back(&f);
    std::vector<float> b((size_t)12 * V);
    for (int s = 0; s < 4; ++s) {
      std::vector<int32_t> bi(12);
      for (auto& t : bi) t = (int32_t)r.below(V);
      e.forward_batch(ptrs, bi.data(), b.data());
      out.insert(out.end(), b.begin(), b.end());
    }
    std::vector<int32_t> longer(64);
    for (auto& t : longer) t = (int32_t)r.below(V);
    std::vector<float> all(longer.size() * V);
    e.forward(c, longer.data(), 64, all.data(), true);
    for (int s = 0; s < 3; ++s) {
      int32_t id = (int32_t)r.below(V);
      e.forward(c, &id, 1, l.data());
      out.insert(out.end(), l.begin(), l.end());
    }
    return out;
  };
  const std::vector<float> a = steps(plain), b = steps(rec);
  const bool same = a == b;
  std::printf("%-52s %s\n", "recorded decode steps (graphs) = plain ones, bitwise", same ? "ok" : "MISMATCH");
  failures += !same;
}

int check_decode_engine_on(const std::string& device, bool small) {
  failures = 0;
  check_engine(Precision::F32, "cpu", device, small);
  check_engine(Precision::BF16, "cpu-staged", device, small);
  check_engine(Precision::GGUF, "cpu-staged", device, small);  // Q8 weights (no GGUF blocks here: re-quantized alike)
  check_engine(Precision::BF16, "cpu-staged", device, small, KVType::F16);
  check_recorded(device, small);
  return failures;
}
