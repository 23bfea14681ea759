// Single-thread throughput of each content filter over a mixed English/Chinese corpus
// made from the Debian sources (clean passages and spun copies, repeated to the asked
// size). Ceiling: a byte scan (count of '\n') over the same texts, measured in the same
// run. Peer for PII: std::regex with an email and a Chinese-mobile pattern. MinHash (the
// near-dedup signature) is timed over the same texts. The spun stage with the language-
// model evidence (curate_lm/, SmolLM2 for English, Gemma 3 270M for Chinese; the model
// runs on every core) is timed by process CPU time over 30 held-out passages of each
// language and their spun copies, against the statistical spun filter on the same passages.
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

#include "veritas/curate_lm/spun_lm.hpp"
#include "veritas/infer/installed_models.hpp"
#include "veritas/util/fs.hpp"

using namespace veritas;

// Thread CPU time: the build machine is shared, so wall time would measure the neighbours.
static double process_cpu_seconds() {  // every thread's: the model runs on all cores
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
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
    std::printf("figure: {\"name\": \"%s MB/s per core\", \"value\": %.6g, \"unit\": \"MB/s\", \"peer\": \"%s\", "
                "\"peer_value\": %.6g, \"ratio\": %.6g}\n", name, v, peer, pv, v / pv);
  };
  const char* scan = "byte-scan ceiling (count newlines)";
  figure("quality filter", q, scan, ceiling);
  figure("spam filter", sp, scan, ceiling);
  figure("spun-text filter", su, scan, ceiling);
  figure("PII masking", pi, scan, ceiling);
  figure("MinHash signature", mhs, scan, ceiling);
  figure("all four filters", all, scan, ceiling);
  figure("PII masking (5 kinds)", pi, "std::regex, 2 patterns", rs);

  // The language-model evidence, where the models are installed (scripts/setup).
  for (Lang l : {Lang::En, Lang::Zh}) {
    const fs::path model = l == Lang::En ? infer::installed_smollm2() : infer::installed_gemma3();
    if (model.empty()) {
      std::printf("spun-text filter + language model (%s): model not installed, not measured\n", lang_code(l));
      continue;
    }
    SpunLmScorer lm(model.string(), l);
    // 30 held-out passages and their spun copies (rate 0.3): ~100 words each.
    std::vector<Document> sample;
    size_t lb = 0;
    for (const std::string& t : spun_eval_passages(l, 1, 30))
      for (int spun = 0; spun < 2; ++spun) {
        Document d;
        d.text = spun ? make_spun_copy(t, l, 0.3, sample.size()) : t;
        d.lang = l;
        lb += d.text.size();
        sample.push_back(std::move(d));
      }
    double t1 = process_cpu_seconds();
    size_t toks = 0;
    for (const Document& d : sample) toks += lm.features(d.text).tokens;
    const double lm_s = process_cpu_seconds() - t1;
    t1 = cpu_seconds();
    size_t kept = 0;
    for (const Document& d : sample) {
      Document x = d;
      kept += check_spun(x, spun_cfg).keep;
    }
    const double st_s = cpu_seconds() - t1;
    const double lm_mb = lb / 1e6 / lm_s, st_mb = lb / 1e6 / st_s;
    std::printf("%-24s %8.2f KB/s  (%s, %zu passages, %.1f KB, %zu content tokens, %.1f CPU s; statistical alone "
                "%.1f MB/s, kept %zu)\n", l == Lang::En ? "spun + LM (en)" : "spun + LM (zh)", lm_mb * 1e3,
                model.filename().c_str(), sample.size(), lb / 1e3, toks, lm_s, st_mb, kept);
    const std::string name = std::string("spun-text filter with language model (") + lang_code(l) + ")";
    figure(name.c_str(), lm_mb, "statistical spun filter, same passages", st_mb);
  }
  return 0;
}
