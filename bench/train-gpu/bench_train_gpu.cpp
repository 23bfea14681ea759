// veritas side of bench/train-gpu: training steps through the Trainer on a device
// (train --device cuda), random tokens, a realistic batch (>= 64k tokens a step as
// micro-batches of B x T). Prints one JSON line: ms/step, tokens/s, achieved TFLOP/s and
// the model FLOPs utilization against the GPU's dense bf16 peak (--peak-tflops).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "../train-vs-pytorch/train_flops.hpp"
#include "veritas/backend/backend.hpp"
#include "veritas/train/trainer.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/timer.hpp"

using namespace veritas;

int main(int argc, char** argv) {
  CLI::App app{"veritas GPU training-step benchmark (one side of bench/train-gpu)"};
  std::string preset = "gpt2", device = "cuda", matmul = "bf16";
  int steps = 5, warmup = 2;
  double peak = 989.0;
  app.add_option("--config", preset, "gpt2 (124M) | smollm2 (135M) | tiny")
      ->check(CLI::IsMember({"gpt2", "smollm2", "tiny"}));
  app.add_option("--device", device, "cuda | cpu | cpu-staged");
  app.add_option("--matmul", matmul, "fp32 | bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option("--steps", steps, "timed steps")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed steps first");
  app.add_option("--peak-tflops", peak, "dense bf16 peak for the MFU (H100/H200 SXM: 989)");
  CLI11_PARSE(app, argc, argv);

  TrainConfig cfg;
  ModelConfig& c = cfg.model;
  int B = 16, T = 1024, accum = 4;  // 65,536 tokens a step
  if (preset == "gpt2") {
    c.vocab_size = 50257, c.hidden_size = 768, c.intermediate_size = 3072, c.num_hidden_layers = 12;
    c.num_attention_heads = 12, c.num_key_value_heads = 12;
  } else if (preset == "smollm2") {
    c.vocab_size = 49152, c.hidden_size = 576, c.intermediate_size = 1536, c.num_hidden_layers = 30;
    c.num_attention_heads = 9, c.num_key_value_heads = 3, c.rope_theta = 100000;
  } else {
    c.vocab_size = 512, c.hidden_size = 64, c.intermediate_size = 128, c.num_hidden_layers = 2;
    c.num_attention_heads = 4, c.num_key_value_heads = 4, B = 2, T = 32, accum = 2;
  }
  c.max_position_embeddings = T;
  c.tie_word_embeddings = true;
  cfg.batch = B, cfg.seq = T, cfg.accum = accum, cfg.steps = 1000, cfg.warmup = 10, cfg.lr = 3e-4;
  cfg.device = device, cfg.matmul = matmul;
  Trainer tr(cfg);
  Rng rng(7);
  std::vector<Batch> micro((size_t)accum);
  for (auto& b : micro) {
    b.B = B, b.T = T;
    for (int i = 0; i < B * T; ++i) b.inputs.push_back((int32_t)rng.below(c.vocab_size));
    b.targets = b.inputs;
    std::rotate(b.targets.begin(), b.targets.begin() + 1, b.targets.end());
  }
  double loss = 0;
  for (int i = 0; i < warmup; ++i) loss = tr.step_on(micro).loss;
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    Timer t;
    loss = tr.step_on(micro).loss;
    tr.model().backend().synchronize();  // the update's kernels too
    times.push_back(t.seconds());
  }
  std::sort(times.begin(), times.end());
  const double med = times[times.size() / 2], tokens = (double)B * T * accum;
  const double tflops = train_flops(c, B * accum, T) / med / 1e12;
  nlohmann::json out{{"side", "veritas"},
                     {"config", preset},
                     {"device", tr.model().backend().describe()},
                     {"matmul", matmul},
                     {"tokens_per_step", tokens},
                     {"ms_per_step", med * 1e3},
                     {"best_ms", times[0] * 1e3},
                     {"tokens_per_s", tokens / med},
                     {"tflops", tflops},
                     {"mfu", tflops / peak},
                     {"loss", loss}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
