// Encode throughput of veritas's tokenizer on one text, on T threads.
// usage: bench_tokenizer tokenizer.json text.txt [passes] [threads]
// The text is cut into T pieces at points where a GPT-2 pre-token always ends (a '\n'
// between two printable ASCII characters), the same cuts bench/tokenizer/peers.py makes
// for the peers, so every side encodes the same pieces. Each pass starts fresh threads,
// whose word caches are empty: the "cold" time is the honest one against peers that keep
// no cache. Each thread then encodes its piece again ("warm", every word cached).
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/cpu_features.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/timer.hpp"

namespace {

bool printable(unsigned char c) { return c >= 0x21 && c <= 0x7e; }

std::vector<std::string_view> cut(std::string_view text, int parts) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (int p = 1; p < parts && start < text.size(); ++p) {
    size_t end = std::max(start + 2, text.size() * p / parts);
    while (end < text.size() && !(text[end - 1] == '\n' && printable(text[end - 2]) && printable(text[end]))) ++end;
    out.push_back(text.substr(start, end - start));
    start = end;
  }
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_tokenizer tokenizer.json text.txt [passes] [threads]\n");
    return 2;
  }
  try {
    veritas::Tokenizer t = veritas::Tokenizer::load(argv[1]);
    std::string text = veritas::read_file(argv[2]);
    int passes = argc > 3 ? std::atoi(argv[3]) : 3;
    int threads = argc > 4 ? std::atoi(argv[4]) : 1;
    if (passes < 1 || threads < 1) throw veritas::Error("passes and threads must be >= 1");
    std::vector<std::string_view> pieces = cut(text, threads);
    double mb = text.size() / 1e6, best_cold = 1e30, best_warm = 1e30;
    size_t n = 0;
    std::printf("%s\n", veritas::cpu_summary().c_str());
    for (int p = 1; p <= passes; ++p) {
      std::vector<size_t> counts(pieces.size());
      double cold = 0, warm = 0;
      veritas::Timer timer;
      // Phase boundaries: all threads start together; the last to finish a phase stamps it.
      std::barrier sync(static_cast<std::ptrdiff_t>(pieces.size()), [&]() noexcept {
        double s = timer.seconds();
        if (cold == 0) cold = s; else warm = s - cold;
      });
      std::vector<std::thread> pool;
      timer.reset();
      for (size_t i = 0; i < pieces.size(); ++i)
        pool.emplace_back([&, i] {
          counts[i] = t.encode(pieces[i]).size();
          sync.arrive_and_wait();
          t.encode(pieces[i]);
          sync.arrive_and_wait();
        });
      for (auto& th : pool) th.join();
      n = 0;
      for (size_t c : counts) n += c;
      best_cold = std::min(best_cold, cold);
      best_warm = std::min(best_warm, warm);
      std::printf("veritas pass %d: cold %.3f s (%.2f MB/s), warm %.3f s (%.2f MB/s)\n", p, cold, mb / cold, warm,
                  mb / warm);
    }
    std::printf("veritas threads: %d\nveritas tokens: %zu\nveritas cold MB/s: %.3f\nveritas warm MB/s: %.3f\n",
                threads, n, mb / best_cold, mb / best_warm);
  } catch (const veritas::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
