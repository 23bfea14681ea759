// Decode speed on a device against the memory roofline (the measure for GPU
// inference): a model of SmolLM2-135M's shape with random weights (the speed does not
// depend on the values, and the GPU machine has no model files), bf16 (or Q8, fp32)
// weights, fp32 KV cache. Batch 1: one sequence decoding token by token; batch B: B sequences, one
// forward_batch per step. Each step reads every weight once plus each sequence's keys
// and values so far; that traffic over the step time, against the device's copy
// bandwidth measured in the same run (a device-to-device copy: read + write) and the
// spec sheet's figure (--hbm-tbps). Logits come back to the host each step (sampling is
// the host's), inside the timed step. Each run twice: decode steps replayed as recorded
// ones (CUDA graphs, the default) and launched kernel by kernel. Prints one JSON line.
//
//   bench_decode_gpu [--device cuda] [--config smollm2|tiny] [--batch 64] [--steps 128]
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "veritas/backend/backend.hpp"
#include "veritas/infer/engine.hpp"
#include "veritas/util/cpu_features.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/timer.hpp"

using namespace veritas;
using namespace veritas::infer;

namespace {

// Bytes per second of a device-to-device copy of `bytes` (counting the read and the write).
double copy_bandwidth(Backend& be, size_t bytes) {
  DeviceBuffer a(be, bytes), b(be, bytes);
  be.zero(a.get(), bytes);
  be.copy(b.get(), a.get(), bytes);  // warm-up
  be.synchronize();
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    Timer t;
    be.copy(b.get(), a.get(), bytes);
    be.synchronize();
    best = std::min(best, t.seconds());
  }
  return 2.0 * bytes / best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"veritas decode benchmark on a device, against the memory roofline"};
  std::string preset = "smollm2", device = "cuda", precision = "bf16";
  int batch = 64, steps = 128, prompt = 16;
  double hbm_tbps = 4.8;
  app.add_option("--config", preset, "smollm2 (135M) | tiny")->check(CLI::IsMember({"smollm2", "tiny"}));
  app.add_option("--device", device, "cuda | cpu-staged | cpu");
  app.add_option("--precision", precision, "weights: bf16 | q8 (blocks of 32 int8, as --precision gguf) | fp32")
      ->check(CLI::IsMember({"bf16", "q8", "fp32"}));
  app.add_option("--batch", batch, "sequences decoded together in the batched run")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "decode steps timed per run")->check(CLI::PositiveNumber);
  app.add_option("--prompt", prompt, "prompt tokens before decoding")->check(CLI::PositiveNumber);
  app.add_option("--hbm-tbps", hbm_tbps, "the memory's spec bandwidth in TB/s (H200: 4.8, H100 SXM: 3.35)");
  CLI11_PARSE(app, argc, argv);

  ModelConfig c;
  if (preset == "smollm2") {
    c.vocab_size = 49152, c.hidden_size = 576, c.intermediate_size = 1536, c.num_hidden_layers = 30;
    c.num_attention_heads = 9, c.num_key_value_heads = 3, c.rope_theta = 100000;
  } else {
    c.vocab_size = 512, c.hidden_size = 64, c.intermediate_size = 128, c.num_hidden_layers = 2;
    c.num_attention_heads = 4, c.num_key_value_heads = 2;
  }
  c.max_position_embeddings = prompt + steps + 8;
  c.tie_word_embeddings = true;
  auto make_engine = [&](bool record) {
    EngineOptions o;
    o.precision = precision == "bf16" ? Precision::BF16 : precision == "q8" ? Precision::GGUF : Precision::F32;
    o.device = device;
    o.record_steps = record;
    return Engine::from_weights(c, [](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
      if (name == "lm_head.weight") return false;
      int64_t n = 1;
      for (auto s : shape) n *= s;
      Rng r(std::hash<std::string>{}(name));
      for (int64_t i = 0; i < n; ++i) dst[i] = (shape.size() == 1 ? 1.0f : 0.0f) + 0.02f * (float)r.normal();
      return true;
    }, o);
  };
  Engine eng = make_engine(true);
  Backend& be = device == "cpu" ? cpu_backend() : backend_named(device);
  const double copy_bps = copy_bandwidth(be, (size_t)1 << (preset == "smollm2" ? 30 : 26));

  const int V = c.vocab_size, kvd = c.num_key_value_heads * c.head_dim();
  const double weights = (double)eng.weight_bytes_per_token();
  // Keys and values read by one step at context n: 2 * layers * n * kvd fp32 values.
  auto kv_bytes = [&](int n) { return 2.0 * c.num_hidden_layers * n * kvd * sizeof(float); };
  Rng rng(3);
  std::vector<int32_t> ids(prompt);
  for (auto& t : ids) t = (int32_t)rng.below(V);

  auto run = [&](Engine& eng, int B) {
    std::vector<KVCache> caches;
    for (int b = 0; b < B; ++b) caches.push_back(eng.new_cache());
    std::vector<float> logits((size_t)B * V);
    for (auto& kc : caches) eng.forward(kc, ids.data(), prompt, logits.data());
    std::vector<KVCache*> ptrs;
    for (auto& kc : caches) ptrs.push_back(&kc);
    std::vector<int32_t> next(B, 1);
    double bytes = 0;
    be.synchronize();
    Timer t;
    for (int s = 0; s < steps; ++s) {
      bytes += weights + B * kv_bytes(prompt + s + 1);
      if (B == 1)
        eng.forward(caches[0], next.data(), 1, logits.data());
      else
        eng.forward_batch(ptrs, next.data(), logits.data());
      for (int b = 0; b < B; ++b)  // greedy, so the next step depends on this one
        next[b] = (int32_t)(std::max_element(logits.begin() + (size_t)b * V, logits.begin() + (size_t)(b + 1) * V) -
                            logits.begin() - (size_t)b * V);
    }
    const double sec = t.seconds();
    return nlohmann::json{{"batch", B},
                          {"tokens_per_s", B * steps / sec},
                          {"ms_per_step", 1e3 * sec / steps},
                          {"gb_per_s", bytes / sec / 1e9},
                          {"of_copy_bandwidth", bytes / sec / copy_bps},
                          {"of_spec_bandwidth", bytes / sec / (hbm_tbps * 1e12)}};
  };
  nlohmann::json out{{"side", "veritas"},
                     {"config", preset},
                     {"device", eng.device()},
                     {"cpu", cpu_summary()},
                     {"weights", precision},
                     {"weight_bytes_per_token", weights},
                     {"copy_gb_per_s", copy_bps / 1e9},
                     {"spec_tb_per_s", hbm_tbps},
                     {"batch_1", run(eng, 1)},
                     {"batch_n", run(eng, batch)}};
  {
    Engine plain = make_engine(false);
    out["batch_1_unrecorded"] = run(plain, 1);
    out["batch_n_unrecorded"] = run(plain, batch);
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
