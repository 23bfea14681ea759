// A training run on the GPU against the same run on the CPU, through the backend
// interface (train --device cuda): 20 steps of a small Llama-shaped model on random
// token batches, with bf16 and with fp32 products, then the GPU's checkpoint resumed on
// the CPU. The products sum in a different order on each side, so the losses agree to
// rounding, not to the bit.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "veritas/train/trainer.hpp"
#include "veritas/util/rng.hpp"

using namespace veritas;

namespace {

TrainConfig config(const std::string& device, const std::string& matmul = "fp32") {
  TrainConfig c;
  c.model.vocab_size = 2048;
  c.model.hidden_size = 256;
  c.model.intermediate_size = 688;
  c.model.num_hidden_layers = 4;
  c.model.num_attention_heads = 8;
  c.model.num_key_value_heads = 2;
  c.model.max_position_embeddings = 128;
  c.batch = 8;
  c.seq = 128;
  c.steps = 20;
  c.lr = 1e-3;
  c.warmup = 5;
  c.clip = 1.0;
  c.device = device;
  c.matmul = matmul;
  return c;
}

// Targets follow the inputs (a learnable map), a quarter of them masked.
Batch batch(uint64_t seed) {
  Rng r(seed);
  Batch b;
  b.B = 8, b.T = 128;
  for (int i = 0; i < b.B * b.T; ++i) {
    b.inputs.push_back((int32_t)r.below(2048));
    b.targets.push_back((int32_t)((b.inputs.back() * 5 + 11) % 2048));
    b.mask.push_back(r.below(4) == 0 ? 0.0f : 1.0f);
  }
  return b;
}

std::vector<float> weights(Trainer& t) {
  t.model().download_weights();
  std::vector<float> w;
  for (const auto& p : t.model().params()) w.insert(w.end(), p.data, p.data + p.size);
  return w;
}

}  // namespace

int check_training() {
  int failures = 0;
  auto report = [&](const std::string& what, double err, double tol) {
    const bool ok = err <= tol;
    std::printf("%-44s max rel err %.2e (tol %.0e) %s\n", what.c_str(), err, tol, ok ? "ok" : "MISMATCH");
    failures += !ok;
  };
  // bf16 products (inputs rounded alike on both sides), then fp32 with the checkpoint check.
  for (const char* matmul : {"bf16", "fp32"}) {
    const std::string m = matmul;
    Trainer cpu(config("cpu", m)), gpu(config("cuda", m));
    std::printf("training (%s products): %s vs cpu, 20 steps of 8 x 128 tokens\n", matmul,
                gpu.model().backend().describe().c_str());
    double worst_loss = 0, worst_norm = 0, gpu_s = 0;
    for (int s = 0; s < 20; ++s) {
      const Batch b = batch(s);
      StepStats c = cpu.step_on({b});
      const auto t0 = std::chrono::steady_clock::now();
      StepStats g = gpu.step_on({b});
      gpu_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      worst_loss = std::max(worst_loss, std::fabs(g.loss - c.loss) / c.loss);
      worst_norm = std::max(worst_norm, std::fabs(g.grad_norm - c.grad_norm) / c.grad_norm);
      if (s % 5 == 0 || s == 19) std::printf("  step %2d loss cpu %.6f gpu %.6f\n", s + 1, c.loss, g.loss);
    }
    report("training loss, 20 steps, " + m, worst_loss, m == "fp32" ? 1e-4 : 1e-3);
    report("gradient norm, 20 steps, " + m, worst_norm, m == "fp32" ? 1e-3 : 1e-2);
    std::printf("  gpu step time %.1f ms (not a benchmark: a tiny model)\n", 1e3 * gpu_s / 20);
    if (m == "bf16") continue;
    // Deterministic by construction (fixed cuBLASLt algorithms, no atomics): the same run
    // again gives the same bits.
    {
      Trainer again(config("cuda", m));
      bool same = true;
      Trainer first(config("cuda", m));
      for (int s = 0; s < 5; ++s) {
        const Batch b = batch(s);
        StepStats x = first.step_on({b}), y = again.step_on({b});
        same = same && x.loss == y.loss && x.grad_norm == y.grad_norm;
      }
      same = same && weights(first) == weights(again);
      std::printf("%-44s %s\n", "GPU training twice: bit-identical", same ? "ok" : "MISMATCH");
      failures += !same;
      // ZeRO-1's path on the GPU (one rank: its shard is everything) against the plain
      // update: the norm sums in another order, nothing else differs.
      TrainConfig zc = config("cuda", m);
      zc.zero = 1;
      Trainer zero(zc), plain(config("cuda", m));
      double worst = 0;
      for (int s = 0; s < 5; ++s) {
        const Batch b = batch(s);
        StepStats x = zero.step_on({b}), y = plain.step_on({b});
        worst = std::max(worst, std::fabs(x.loss - y.loss) / y.loss);
      }
      report("ZeRO-1 on the GPU vs the plain update, 5 steps", worst, 1e-5);
    }
    // The GPU's checkpoint on the CPU: the same weights, and the next step agrees.
    const auto dir = std::filesystem::temp_directory_path() / "veritas-device-check-ckpt";
    std::filesystem::remove_all(dir);
    gpu.save_checkpoint(dir);
    Trainer resumed(config("cpu"));
    resumed.load_checkpoint(dir);
    const std::vector<float> wg = weights(gpu), wr = weights(resumed);
    std::printf("%-44s %s\n", "GPU checkpoint loads on the CPU bit for bit", wg == wr ? "ok" : "MISMATCH");
    failures += wg != wr;
    const Batch next = batch(99);
    StepStats g = gpu.step_on({next}), r = resumed.step_on({next});
    report("step 21: GPU vs GPU checkpoint resumed on CPU", std::fabs(g.loss - r.loss) / g.loss, 1e-5);
    std::filesystem::remove_all(dir);
  }
  return failures;
}
