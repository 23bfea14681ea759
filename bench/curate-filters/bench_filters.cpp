// Single-thread throughput of each content filter over a mixed English/Chinese corpus
// made from the Debian sources (clean passages and spun copies, repeated to the asked
// size). Ceiling: a byte scan (count of '\n') over the same texts, measured in the same
// run. Peer for PII: std::regex with an email and a Chinese-mobile pattern. MinHash (the
// near-dedup signature) is timed over the same texts.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <regex>
#include <string>
#include <vector>

#include "veritas/data/dedup.hpp"
#include "veritas/data/pii.hpp"
#include "veritas/data/quality.hpp"
#include "veritas/data/spam.hpp"
#include "veritas/data/spun.hpp"
#include "veritas/util/timer.hpp"

using namespace veritas;

// Thread CPU time: the build machine is shared, so wall time would measure the neighbours.
static double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  double want_mb = argc > 1 ? std::atof(argv[1]) : 32;
  std::vector<Document> docs;
  size_t bytes = 0;
  {
    std::vector<std::pair<std::string, Lang>> base;
    for (Lang l : {Lang::En, Lang::Zh})
      for (int split : {0, 1})
        for (auto& t : spun_eval_passages(l, split, 2000)) {
          base.emplace_back(t, l);
          base.emplace_back(make_spun_copy(t, l, 0.3, base.size()), l);
        }
    size_t i = 0;
    while (bytes < want_mb * 1e6) {
      Document d;
      d.text = base[i % base.size()].first;
      d.lang = base[i % base.size()].second;
      bytes += d.text.size();
      docs.push_back(std::move(d));
      ++i;
    }
  }
  std::printf("MB/s per core from thread CPU time\n");
  std::printf("corpus: %zu documents, %.1f MB (en and zh, clean and spun)\n", docs.size(), bytes / 1e6);
  SpunConfig spun_cfg;
  SpunModel::get(spun_cfg);  // load or build the reference statistics outside the timing

  auto run = [&](const char* name, auto&& fn) {
    double t0 = cpu_seconds();
    size_t sink = 0;
    for (auto& d : docs) sink += fn(d);
    double s = cpu_seconds() - t0;
    std::printf("%-24s %8.1f MB/s  (%.2f s, checksum %zu)\n", name, bytes / 1e6 / s, s, sink);
    return bytes / 1e6 / s;
  };
  double ceiling = run("ceiling: byte scan", [](Document& d) { return (size_t)std::count(d.text.begin(), d.text.end(), '\n'); });
  QualityConfig qc;
  SpamConfig sc;
  PiiConfig pc;
  double q = run("quality", [&](Document& d) { Document x; x.text = d.text; x.lang = d.lang; return (size_t)check_quality(x, qc).keep; });
  double sp = run("spam", [&](Document& d) { Document x; x.text = d.text; x.lang = d.lang; return (size_t)check_spam(x, sc).keep; });
  double su = run("spun", [&](Document& d) { Document x; x.text = d.text; x.lang = d.lang; return (size_t)check_spun(x, spun_cfg).keep; });
  double pi = run("pii (mask)", [&](Document& d) { PiiCounts c; return mask_pii_text(d.text, pc, &c).size(); });
  // Near-dedup signatures (curation stage 5, before the filters): MinHash 14 x 8 over
  // word / character 5-grams and the band hashes.
  DedupConfig dc;
  MinHasher mh(dc);
  double mhs = run("minhash (14x8 + bands)", [&](Document& d) { return mh.signature(d.text, d.lang).bands.size(); });
  double all = run("all four in sequence", [&](Document& d) {
    Document x; x.text = d.text; x.lang = d.lang;
    size_t k = check_quality(x, qc).keep + check_spam(x, sc).keep + check_spun(x, spun_cfg).keep;
    return k + mask_pii(x, pc).keep;
  });
  // Peer: std::regex over the first ~4 MB (it is slow), scaled per MB.
  std::regex email(R"([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)"), mobile(R"(1[3-9][0-9]{9})");
  double t0 = cpu_seconds();
  size_t rb = 0, hits = 0;
  for (auto& d : docs) {
    if (rb > 4e6) break;
    rb += d.text.size();
    hits += std::distance(std::sregex_iterator(d.text.begin(), d.text.end(), email), std::sregex_iterator());
    hits += std::distance(std::sregex_iterator(d.text.begin(), d.text.end(), mobile), std::sregex_iterator());
  }
  double rs = rb / 1e6 / (cpu_seconds() - t0);
  std::printf("%-24s %8.1f MB/s  (%.1f MB, %zu hits)\n", "peer: std::regex (2 pat)", rs, rb / 1e6, hits);
  std::printf("\nratios: quality %.3f, spam %.3f, spun %.3f, pii %.3f, minhash %.3f, all %.3f of the byte-scan "
              "ceiling; pii masking (5 kinds) is %.1fx std::regex searching 2 patterns\n",
              q / ceiling, sp / ceiling, su / ceiling, pi / ceiling, mhs / ceiling, all / ceiling, pi / rs);
  // Machine-readable figures for bench/all (bench/figures.py).
  auto figure = [](const char* name, double v, const char* peer, double pv) {
    std::printf("figure: {\"name\": \"%s MB/s per core\", \"value\": %.3f, \"unit\": \"MB/s\", \"peer\": \"%s\", "
                "\"peer_value\": %.3f, \"ratio\": %.5f}\n", name, v, peer, pv, v / pv);
  };
  const char* scan = "byte-scan ceiling (count newlines)";
  figure("quality filter", q, scan, ceiling);
  figure("spam filter", sp, scan, ceiling);
  figure("spun-text filter", su, scan, ceiling);
  figure("PII masking", pi, scan, ceiling);
  figure("MinHash signature", mhs, scan, ceiling);
  figure("all four filters", all, scan, ceiling);
  figure("PII masking (5 kinds)", pi, "std::regex, 2 patterns", rs);
  return 0;
}
