// Decode speed of the veritas engine (batch 1, KV cache) and the machine's read
// bandwidth, for bench/generate-vs-pytorch/run.
//   bench_generate --model DIR|FILE.gguf --precision P [--tokens N] [--prompt-tokens N] [--kv-cache f32|f16]
//   bench_generate --bandwidth MiB
//   bench_generate --kernels        (the block kernels' instruction set)
//   --block-kernels avx512-vnni|avx2|scalar   (before --model: run those kernels instead)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "veritas/infer/engine.hpp"
#include "veritas/infer/kernels.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/thread_pool.hpp"
#include "veritas/util/timer.hpp"

using namespace veritas;
using namespace veritas::infer;

// Best of several passes of a streaming read over `mib` MiB, split over the thread pool
// (the same threads the decoder uses).
static double bandwidth_gbs(size_t mib) {
  size_t n = mib * (1u << 20) / sizeof(float);
  Buffer<float> buf(n, false);
  for (size_t i = 0; i < n; ++i) buf[i] = (float)(i & 1023);
  double best = 0, sink = 0;
  const int threads = ThreadPool::global().size();
  for (int pass = 0; pass < (mib > 256 ? 4 : 40); ++pass) {
    std::vector<double> part(threads, 0);
    Timer t;
    ThreadPool::global().parallel_for(threads, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        size_t lo = n * i / threads, hi = n * (i + 1) / threads;
        part[i] = stream_read_sum(buf.data() + lo, hi - lo);
      }
    });
    double s = t.seconds();
    for (double p : part) sink += p;
    best = std::max(best, n * sizeof(float) / s / 1e9);
  }
  if (sink == 1234.5) std::printf("#");  // keep the reads
  return best;
}

int main(int argc, char** argv) {
  try {
    std::string model, prec = "fp32", kv = "f32";
    int tokens = 200, prompt_tokens = 8;
    size_t bw = 0;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        check(i + 1 < argc, a + " needs a value");
        return argv[++i];
      };
      if (a == "--model") model = next();
      else if (a == "--precision") prec = next();
      else if (a == "--tokens") tokens = std::stoi(next());
      else if (a == "--prompt-tokens") prompt_tokens = std::stoi(next());
      else if (a == "--kv-cache") kv = next();
      else if (a == "--bandwidth") bw = std::stoul(next());
      else if (a == "--block-kernels") set_block_kernels(next());
      else if (a == "--kernels") {
        std::printf("%s\n", block_kernels());
        return 0;
      }
      else throw Error("unknown argument " + a + " (see the comment at the top of bench_generate.cpp)");
    }
    if (bw) {
      std::printf("{\"bandwidth_mib\": %zu, \"gb_per_s\": %.2f}\n", bw, bandwidth_gbs(bw));
      return 0;
    }
    check(!model.empty(), "--model is required");
    EngineOptions eo;
    eo.precision = parse_precision(prec);
    eo.kv_cache = parse_kv_type(kv);
    eo.context = prompt_tokens + tokens + 1;
    Engine eng = Engine::load(model, eo);
    std::vector<int32_t> prompt;
    for (int i = 0; i < prompt_tokens; ++i) prompt.push_back((i * 37 + 1) % eng.config().vocab_size);
    SamplingOptions so;
    so.temperature = 0;  // greedy: the PyTorch peer must produce the same tokens in fp32
    so.max_tokens = tokens;
    so.stop_at_end_tokens = false;
    SamplingOptions warm = so;
    warm.max_tokens = 16;
    eng.generate(prompt, warm);
    Generation g = eng.generate(prompt, so);
    std::printf("{\"engine\": \"veritas\", \"precision\": \"%s\", \"tokens\": %zu, \"decode_s\": %.6f, "
                "\"tokens_per_s\": %.2f, \"prompt_tokens\": %d, \"prompt_tokens_per_s\": %.2f, "
                "\"weight_bytes_per_token\": %zu, \"ids\": [",
                prec.c_str(), g.tokens.size(), g.decode_seconds, g.tokens.size() / g.decode_seconds, prompt_tokens,
                prompt_tokens / g.prefill_seconds, eng.weight_bytes_per_token());
    for (size_t i = 0; i < g.tokens.size(); ++i) std::printf("%s%d", i ? ", " : "", g.tokens[i]);
    std::printf("]}\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
