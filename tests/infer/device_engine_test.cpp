// The engine's forward pass on a backend (infer/device_forward.cpp) against the CPU
// engine, an independent implementation of the same model: the cpu-staged backend runs
// the device code path (weights, activations and KV caches behind upload/download) with
// the CPU's reference kernels (kernels/decode.cpp). scripts/device-check runs the same
// comparison on a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "veritas/infer/engine.hpp"
#include "veritas/kernels/decode.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/rng.hpp"
#include "error_of.hpp"
#include "random_weights.hpp"
#include "reference_run.hpp"

using namespace veritas;
using veritas::test::error_of;
using namespace veritas::infer;
using veritas::reference::rel_err;
using veritas::test::random_source;

namespace {

ModelConfig tiny_config(bool qwen2) {
  ModelConfig c;
  c.vocab_size = 270;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;  // grouped-query attention; head_dim 12
  c.max_position_embeddings = 96;
  c.attention_bias = qwen2;
  c.tie_word_embeddings = !qwen2;
  return c;
}

// random_source with an untied head's own weights (random_source leaves lm_head to the
// embedding).
WeightSource own_head_source(uint64_t seed) {
  return [src = random_source(seed)](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
    return src(name == "lm_head.weight" ? "lm_head.weight.own" : name, shape, dst);
  };
}

Engine engine(const ModelConfig& c, const std::string& device, Precision p = Precision::F32, bool record = true,
              KVType kv = KVType::F32) {
  EngineOptions o;
  o.precision = p;
  o.device = device;
  o.record_steps = record;
  o.kv_cache = kv;
  return Engine::from_weights(c, own_head_source(5), o);
}

std::vector<int32_t> tokens(int n, uint64_t seed) {
  Rng r(seed);
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((int32_t)r.below(256));
  return t;
}

// max |b - a| / max |a| over the logits of every position of `prompt`, each engine from a
// fresh cache (or the ones given, left holding the prompt).
double prefill_err(Engine& a, Engine& b, const std::vector<int32_t>& prompt, KVCache* ca = nullptr,
                   KVCache* cb = nullptr) {
  KVCache fa, fb;
  if (!ca) fa = a.new_cache(), ca = &fa;
  if (!cb) fb = b.new_cache(), cb = &fb;
  std::vector<float> la(prompt.size() * a.config().vocab_size), lb(la.size());
  a.forward(*ca, prompt.data(), (int)prompt.size(), la.data(), true);
  b.forward(*cb, prompt.data(), (int)prompt.size(), lb.data(), true);
  return rel_err(lb.data(), la.data(), la.size());
}

}  // namespace

// Prefill, token-by-token decode, forked caches decoded as one batch and greedy
// generation: each on the device path against the CPU engine, with an fp32 and an fp16
// KV cache (each value rounded once when stored, attention in fp32, on both).
TEST(DeviceEngine, Fp32MatchesTheCpuEngine) {
  for (auto [qwen2, kv] : {std::pair{false, KVType::F32}, std::pair{true, KVType::F32}, std::pair{false, KVType::F16},
                           std::pair{true, KVType::F16}}) {
    const ModelConfig cfg = tiny_config(qwen2);
    Engine cpu = engine(cfg, "cpu", Precision::F32, true, kv), dev = engine(cfg, "cpu-staged", Precision::F32, true, kv);
    // The two sum in different orders (1e-7); with an fp16 cache a key or value that close
    // to a half's rounding boundary rounds the other way on one side, one half step (2^-11
    // relative) in that value, so the bound is looser there.
    const double tol = kv == KVType::F16 ? 2e-4 : 1e-5;
    EXPECT_EQ(dev.device(), "cpu-staged");
    const int V = cfg.vocab_size;
    KVCache ca = cpu.new_cache(), cb = dev.new_cache();
    const double prefill = prefill_err(cpu, dev, tokens(70, 3), &ca, &cb);  // two chunks of the engine's 64
    EXPECT_LE(prefill, tol) << "qwen2 " << qwen2;

    double decode = 0;
    for (int32_t id : tokens(10, 4)) {
      std::vector<float> la(V), lb(V);
      cpu.forward(ca, &id, 1, la.data());
      dev.forward(cb, &id, 1, lb.data());
      decode = std::max(decode, rel_err(lb.data(), la.data(), V));
    }
    EXPECT_LE(decode, tol) << "qwen2 " << qwen2;
    EXPECT_EQ(cb.size(), 80);

    // Three forks of the device cache, rewound to different lengths, one step as a batch.
    std::vector<KVCache> fa, fb;
    for (int k = 0; k < 3; ++k) {
      fa.push_back(ca.fork()), fb.push_back(cb.fork());
      fa.back().truncate(60 + 5 * k), fb.back().truncate(60 + 5 * k);
    }
    std::vector<int32_t> ids = {7, 99, 180};
    std::vector<float> ba(3 * V), bb(3 * V);
    cpu.forward_batch({&fa[0], &fa[1], &fa[2]}, ids.data(), ba.data());
    dev.forward_batch({&fb[0], &fb[1], &fb[2]}, ids.data(), bb.data());
    const double batch = rel_err(bb.data(), ba.data(), ba.size());
    EXPECT_LE(batch, tol) << "qwen2 " << qwen2;

    SamplingOptions so;
    so.temperature = 0;
    so.max_tokens = 12;
    so.stop_at_end_tokens = false;
    const std::vector<int32_t> p2 = tokens(9, 6);
    EXPECT_EQ(dev.generate(p2, so).tokens, cpu.generate(p2, so).tokens) << "qwen2 " << qwen2;
    so.temperature = 0.9f;
    auto ka = cpu.generate_k(p2, 3, so), kb = dev.generate_k(p2, 3, so);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(kb[k].tokens, ka[k].tokens) << "sample " << k << " qwen2 " << qwen2;
    std::printf("%s, %s cache: max |device - cpu| / max |logit|: prefill %.2g, decode %.2g, forked batch %.2g\n",
                qwen2 ? "qwen2 (biases, untied head)" : "llama (tied head)", kv == KVType::F16 ? "fp16" : "fp32",
                prefill, decode, batch);
  }
}

// bf16 weights: the products' reference against a double sum of the bf16-rounded
// operands, then the whole model against fp32 (bf16 rounds weights and product inputs,
// about 2^-9 relative each).
TEST(DeviceEngine, Bf16Weights) {
  const int N = 5, C = 40, OC = 7;
  Rng r(11);
  std::vector<float> x((size_t)N * C), wf((size_t)OC * C), out((size_t)N * OC, 1.0f);
  std::vector<uint16_t> w(wf.size());
  for (auto& v : x) v = (float)r.normal();
  for (size_t i = 0; i < w.size(); ++i) w[i] = f32_to_bf16((float)r.normal());
  auto widen = [](uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; std::memcpy(&f, &u, 4); return f; };
  kernels::matmul_bf16_weights(out.data(), x.data(), w.data(), N, C, OC, true);
  double worst = 0;
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o) {
      double s = 1.0, mag = 1.0;  // accumulated onto 1
      for (int c = 0; c < C; ++c) {
        const double p = (double)widen(w[(size_t)o * C + c]) * widen(f32_to_bf16(x[(size_t)n * C + c]));
        s += p, mag += std::fabs(p);
      }
      worst = std::max(worst, std::fabs(out[(size_t)n * OC + o] - s) / mag);
    }
  EXPECT_LE(worst, 1e-6);

  const ModelConfig cfg = tiny_config(false);
  Engine cpu = engine(cfg, "cpu"), dev = engine(cfg, "cpu-staged", Precision::BF16);
  const double e = prefill_err(cpu, dev, tokens(40, 8));
  std::printf("bf16 products: max error %.2g of sum |w x|; bf16 model vs fp32: %.2g of the largest logit\n", worst, e);
  EXPECT_LE(e, 3e-2);
  EXPECT_GT(e, 0.0);  // the weights really are bf16
}

TEST(DeviceEngine, ClearErrors) {
  const ModelConfig cfg = tiny_config(false);
  EngineOptions o;
  o.device = "tpu";
  EXPECT_NE(error_of([&] { Engine::from_weights(cfg, random_source(1), o); }).find("tpu"), std::string::npos);
  Engine cpu = engine(cfg, "cpu"), dev = engine(cfg, "cpu-staged");
  KVCache c = cpu.new_cache();
  std::vector<float> l(cfg.vocab_size);
  int32_t id = 5;
  EXPECT_NE(error_of([&] { dev.forward(c, &id, 1, l.data()); }).find("not made by this engine"), std::string::npos);
  EXPECT_EQ(c.size(), 0);
  KVCache d = dev.new_cache();  // and the other way
  EXPECT_NE(error_of([&] { cpu.forward(d, &id, 1, l.data()); }).find("lives on a device"), std::string::npos);
  Engine other = engine(cfg, "cpu-staged");  // another engine on the same device
  EXPECT_NE(error_of([&] { other.forward(d, &id, 1, l.data()); }).find("not made by this engine"), std::string::npos);
  EXPECT_EQ(d.size(), 0);
}

// The reference model's real shapes (9 heads over 3 kv heads of 64, 30 layers) from its
// GGUF, dequantized to fp32 on both paths.
TEST(DeviceEngine, SmolLM2MatchesTheCpuEngine) {
  EngineOptions o;
  o.context = 64;
  Engine cpu = Engine::load(reference::smollm_path(), o);
  o.device = "cpu-staged";
  Engine dev = Engine::load(reference::smollm_path(), o);
  const std::vector<int32_t> prompt = cpu.tokenizer()->encode("The capital of France is");
  const double e = prefill_err(cpu, dev, prompt);
  std::printf("SmolLM2 fp32, %zu tokens: max |device - cpu| / max |logit| = %.2g\n", prompt.size(), e);
  EXPECT_LE(e, 1e-5);
  SamplingOptions so;
  so.temperature = 0;
  so.max_tokens = 6;
  so.stop_at_end_tokens = false;
  EXPECT_EQ(dev.generate(prompt, so).tokens, cpu.generate(prompt, so).tokens);
}

// Recorded steps (CUDA graphs on a GPU; closures on cpu-staged) give the bits of the same
// steps run one operation at a time: decode steps of one sequence and of a batch, a long
// prefill in between that grows every buffer (the recordings made before are dropped and
// made again), and forks.
TEST(DeviceEngine, RecordedStepsEqualPlainOnes) {
  const ModelConfig cfg = tiny_config(true);
  Engine plain = engine(cfg, "cpu-staged", Precision::F32, false), rec = engine(cfg, "cpu-staged");
  const int V = cfg.vocab_size;
  auto steps = [&](Engine& e) {
    std::vector<float> out, l(V);
    KVCache c = e.new_cache();
    std::vector<int32_t> p = tokens(5, 1);
    e.forward(c, p.data(), 5, l.data());
    out.insert(out.end(), l.begin(), l.end());
    for (int32_t id : tokens(6, 2)) {  // run, record, replay x4
      e.forward(c, &id, 1, l.data());
      out.insert(out.end(), l.begin(), l.end());
    }
    std::vector<int32_t> longer = tokens(60, 3);  // grows the buffers: recordings dropped
    std::vector<float> all(longer.size() * V);
    e.forward(c, longer.data(), (int)longer.size(), all.data(), true);
    out.insert(out.end(), all.begin(), all.end());
    std::vector<KVCache> forks;
    for (int k = 0; k < 3; ++k) forks.push_back(c.fork());
    std::vector<float> b(3 * V);
    for (int32_t id : tokens(4, 4)) {  // a batch of 3: run, record, replay x2
      std::vector<int32_t> ids = {id, (int32_t)((id + 1) % 256), (int32_t)((id + 2) % 256)};
      e.forward_batch({&forks[0], &forks[1], &forks[2]}, ids.data(), b.data());
      out.insert(out.end(), b.begin(), b.end());
    }
    for (int32_t id : tokens(3, 5)) {  // one sequence again, after the buffers grew
      e.forward(c, &id, 1, l.data());
      out.insert(out.end(), l.begin(), l.end());
    }
    return out;
  };
  const std::vector<float> a = steps(plain), b = steps(rec);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b) << "max difference " << rel_err(b.data(), a.data(), a.size());
}

// Q8 weights on a device (--precision gguf): the product's reference against a double sum,
// then a model whose weights are exactly representable as Q8_0 blocks (each block d * q,
// one value at +-127 d, as Q8_0 files hold them) against the CPU engine in fp32 on the
// same values: the device keeps the blocks as they were, so only fp32 rounding differs.
TEST(DeviceEngine, Q8Weights) {
  const int N = 3, C = 64, OC = 5;
  Rng r(12);
  std::vector<int8_t> q((size_t)OC * C);
  std::vector<float> scale((size_t)OC * C / 32), x((size_t)N * C), out((size_t)N * OC, 2.0f);
  for (auto& v : q) v = (int8_t)((int)r.below(255) - 127);
  for (auto& v : scale) v = 0.01f + 0.01f * (float)r.uniform();
  for (auto& v : x) v = (float)r.normal();
  kernels::matmul_q8_weights(out.data(), x.data(), q.data(), scale.data(), N, C, OC, true);
  double worst = 0;
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o) {
      double s = 2.0, mag = 2.0;
      for (int c = 0; c < C; ++c) {
        const double p = (double)scale[((size_t)o * C + c) / 32] * q[(size_t)o * C + c] * x[(size_t)n * C + c];
        s += p, mag += std::fabs(p);
      }
      worst = std::max(worst, std::fabs(out[(size_t)n * OC + o] - s) / mag);
    }
  EXPECT_LE(worst, 1e-6);

  ModelConfig cfg = tiny_config(true);
  cfg.hidden_size = 64, cfg.intermediate_size = 96;  // whole blocks of 32 (head_dim 16)
  auto src = own_head_source(21);
  auto q8_source = [&](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
    if (!src(name, shape, dst)) return false;
    if (shape.size() != 2) return true;
    for (int64_t b = 0; b < shape[0] * shape[1] / 32; ++b) {  // each block of 32: d * round(v / d)
      float* v = dst + b * 32;
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[i]));
      const float d = amax / 127.0f;
      for (int i = 0; i < 32; ++i) v[i] = d * (float)std::lrintf(v[i] / d);
    }
    return true;
  };
  EngineOptions o;
  Engine cpu = Engine::from_weights(cfg, q8_source, o);
  o.device = "cpu-staged";
  o.precision = Precision::GGUF;
  Engine dev = Engine::from_weights(cfg, q8_source, o);
  const double e = prefill_err(cpu, dev, tokens(30, 13));
  std::printf("Q8 products: max error %.2g of sum |w x|; Q8 weights on the device vs fp32 on the CPU: %.2g of the "
              "largest logit; weights %zu bytes per token (fp32: %zu)\n",
              worst, e, dev.weight_bytes_per_token(), cpu.weight_bytes_per_token());
  EXPECT_LE(e, 1e-5);
  EXPECT_LT(dev.weight_bytes_per_token() * 3, cpu.weight_bytes_per_token());  // about 1.125 bytes a weight
}
