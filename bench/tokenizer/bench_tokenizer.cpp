// Encode throughput of veritas's tokenizer on one text, one thread.
// usage: bench_tokenizer tokenizer.json text.txt [passes]
// Pass 1 starts with an empty word cache (cold); later passes reuse it.
#include <cstdio>
#include <cstdlib>

#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/timer.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_tokenizer tokenizer.json text.txt [passes]\n");
    return 2;
  }
  try {
    veritas::Tokenizer t = veritas::Tokenizer::load(argv[1]);
    std::string text = veritas::read_file(argv[2]);
    int passes = argc > 3 ? std::atoi(argv[3]) : 3;
    double mb = text.size() / 1e6, best = 1e30;
    size_t n = 0;
    for (int p = 1; p <= passes; ++p) {
      veritas::Timer timer;
      auto ids = t.encode(text);
      double s = timer.seconds();
      n = ids.size();
      if (s < best) best = s;
      std::printf("veritas pass %d: %.3f s, %.2f MB/s%s\n", p, s, mb / s, p == 1 ? " (cold cache)" : "");
      if (p == 1) std::printf("veritas cold MB/s: %.3f\n", mb / s);
    }
    std::printf("veritas tokens: %zu\nveritas best MB/s: %.3f\n", n, mb / best);
  } catch (const veritas::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
