// veritas side of bench/train-vs-pytorch: trains the model on one fixed random batch
// (forward + backward + AdamW step) and prints one JSON line with ms/step, tokens/s,
// achieved GFLOP/s and peak RSS. `--sgemm` instead times a large cblas_sgemm: the fp32
// ceiling both sides are measured against.
#include <cblas.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "train_flops.hpp"
#include "veritas/kernels/gemm_bf16.hpp"
#include "veritas/kernels/kernels.hpp"
#include "veritas/model/model.hpp"
#include "veritas/train/adamw.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/timer.hpp"

using namespace veritas;

static double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

int main(int argc, char** argv) {
  CLI::App app{"veritas training-step benchmark (one side of bench/train-vs-pytorch)"};
  std::string preset = "small";
  int steps = 5, warmup = 1;
  bool sgemm = false;
  std::string matmul = "fp32";
  app.add_option("--config", preset, "small | 124m | 124m-2k | tiny")
      ->check(CLI::IsMember({"small", "124m", "124m-2k", "tiny"}));
  app.add_option("--steps", steps, "timed steps")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed steps first");
  app.add_flag("--sgemm", sgemm, "time a 2048^3 cblas_sgemm instead (GFLOP/s ceiling)");
  app.add_option("--matmul", matmul, "matrix products: fp32 | bf16 (as train --matmul)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  CLI11_PARSE(app, argc, argv);

  if (sgemm) {
    const int n = 2048;
    std::vector<float> a((size_t)n * n, 0.5f), b((size_t)n * n, 0.25f), c((size_t)n * n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    double best = 1e30;
    for (int r = 0; r < 3; ++r) {
      Timer t;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(),
                  n);
      best = std::min(best, t.seconds());
    }
    std::printf("%s\n", nlohmann::json{{"sgemm_gflops", 2.0 * n * n * n / best / 1e9}}.dump().c_str());
    return 0;
  }

  kernels::set_matmul_bf16(matmul == "bf16");
  ModelConfig c;
  int B, T;
  if (preset == "small") {
    c.vocab_size = 8192, c.hidden_size = 384, c.intermediate_size = 1024, c.num_hidden_layers = 6;
    c.num_attention_heads = 6, c.num_key_value_heads = 6, B = 8, T = 256;
  } else if (preset == "124m" || preset == "124m-2k") {  // 2k: 2,048 tokens a step, the model dominates
    c.vocab_size = 50257, c.hidden_size = 768, c.intermediate_size = 3072, c.num_hidden_layers = 12;
    c.num_attention_heads = 12, c.num_key_value_heads = 12, B = 4, T = preset == "124m" ? 64 : 512;
  } else {
    c.vocab_size = 512, c.hidden_size = 64, c.intermediate_size = 128, c.num_hidden_layers = 2;
    c.num_attention_heads = 4, c.num_key_value_heads = 4, B = 2, T = 32;
  }
  c.max_position_embeddings = std::max(T, 256);
  c.tie_word_embeddings = true;
  Model model(c, B, T);
  model.init_weights(1);
  AdamW opt(model.params(), AdamWConfig{});
  Rng rng(7);
  std::vector<int32_t> in((size_t)B * T), tg((size_t)B * T);
  for (auto& x : in) x = (int32_t)rng.below(c.vocab_size);
  for (auto& x : tg) x = (int32_t)rng.below(c.vocab_size);

  double opt_s = 0;  // time in zero_grad + optimizer, reported separately
  auto step = [&] {
    Timer t;
    model.zero_grad();
    opt_s += t.seconds();
    float loss = model.forward_backward(in.data(), tg.data(), nullptr, B, T);
    t.reset();
    opt.step(model.params(), 1e-4f);
    opt_s += t.seconds();
    return loss;
  };
  float loss = 0;
  for (int i = 0; i < warmup; ++i) loss = step();
  opt_s = 0;
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    Timer t;
    loss = step();
    times.push_back(t.seconds());
  }
  std::sort(times.begin(), times.end());
  const double med = times[times.size() / 2];
  nlohmann::json out{{"side", "veritas"},
                     {"config", preset},
                     {"matmul", matmul == "bf16" ? std::string("bf16-") + kernels::bf16_path_name(kernels::gemm_bf16_path()) : "fp32"},
                     {"ms_per_step", med * 1e3},
                     {"best_ms", times[0] * 1e3},
                     {"optimizer_ms", opt_s / steps * 1e3},
                     {"tokens_per_s", B * T / med},
                     {"gflops", train_flops(c, B, T) / med / 1e9},
                     {"peak_rss_mb", peak_rss_mb()},
                     {"loss", loss}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
