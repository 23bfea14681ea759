#pragma once
// Spun-text detection, internal: the jieba dictionary, max-probability Chinese word
// segmentation and the token streams (English words, Chinese words) with sentence breaks.
#include "veritas/data/spun_tables.hpp"
#include "veritas/util/text.hpp"

namespace veritas::spun {

// ------------------------------------------------------------------ Chinese dictionary
struct ZhDict {
  Table freq;    // word hash -> jieba frequency
  Table prefix;  // prefix hash -> 1 (jieba's prefix dictionary: lets the DAG stop early)
  double log_total = 0;
  int max_chars = 1;
  // For the substitution script only: (pos, chars) -> words.
  std::map<std::pair<std::string, int>, std::vector<std::string>> by_pos;
  std::unordered_map<std::string, std::string> pos_of;
};

void load_zh_dict(ZhDict& d, bool with_pos);

// Max-probability segmentation of one run of Han characters (jieba's DAG without the
// HMM for unknown words): right to left, best[i] = max over dictionary words w starting
// at i of log P(w) + best[i + |w|]; a character outside the dictionary costs log(1/total).
struct Seg {
  size_t begin, end;  // byte offsets in the run
};
struct DictHit {
  uint32_t freq;  // jieba frequency (0: not a word)
  bool prefix;    // a prefix of some dictionary word (words included)
};
struct Run {
  size_t begin, end;  // byte range of a run of Han characters
};
// Segments all runs of a text at once. look(h) -> DictHit for the hash of a candidate
// word; pre(h) may prefetch its slot. The candidates are looked up level by level over
// the whole text (all one-character words, then the two-character words at positions
// whose one-character candidate is a prefix, ...) before the per-run DAG, so a level's
// look-ups are independent and their cache misses overlap. The DAG tries, at each
// position, the same candidates in the same order as a word-by-word loop would.
// out: segments with byte offsets in s and their hashes.
template <class Look, class Pre>
void segment_runs(const ZhDict& d, const Look& look, const Pre& pre, std::string_view s, const std::vector<Run>& runs,
                  std::vector<Seg>& out, std::vector<uint64_t>& out_h) {
  thread_local std::vector<size_t> starts;   // character offsets; each run followed by its end offset
  thread_local std::vector<uint32_t> lim;    // lim[k]: index of the end of k's run in starts
  thread_local std::vector<double> best;
  thread_local std::vector<uint32_t> next;
  thread_local std::vector<uint32_t> fq;     // fq[(L - 1) * N + k]: frequency of the L-character word at k
  thread_local std::vector<uint64_t> hq;     // ... and its hash
  thread_local std::vector<uint32_t> len;    // len[k]: candidates tried at k
  thread_local std::vector<uint32_t> active; // positions whose candidate of the current length is a prefix
  starts.clear();
  lim.clear();
  active.clear();
  for (const Run& r : runs) {
    size_t first = starts.size();
    for (size_t i = r.begin; i < r.end; utf8_next(s, i)) starts.push_back(i);
    uint32_t e = (uint32_t)starts.size();
    starts.push_back(r.end);
    for (size_t k = first; k < e; ++k) active.push_back((uint32_t)k);
    lim.resize(starts.size(), e);
  }
  const size_t N = starts.size();
  len.assign(N, 0);
  fq.clear();
  hq.clear();
  for (size_t L = 1; !active.empty() && (int)L <= d.max_chars; ++L) {
    size_t m = 0;  // positions with room for a word of length L
    for (uint32_t k : active)
      if (k + L <= lim[k]) active[m++] = k;
    active.resize(m);
    fq.resize(L * N);
    hq.resize(L * N);
    uint64_t* h = hq.data() + (L - 1) * N;
    for (uint32_t k : active) pre(h[k] = hash_bytes(s.substr(starts[k], starts[k + L] - starts[k])));
    size_t keep = 0;
    for (uint32_t k : active) {
      DictHit e = look(h[k]);
      fq[(L - 1) * N + k] = e.freq;
      len[k] = (uint32_t)L;
      if (e.prefix) active[keep++] = k;
    }
    active.resize(keep);
  }
  best.resize(N);
  next.resize(N);
  size_t a = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    size_t e = lim[a];  // this run: positions [a, e), end offset at e
    best[e] = 0;
    for (size_t k = e; k-- > a;) {
      double b = -1e300;
      size_t bj = k + 1;
      for (size_t L = 1; L <= len[k]; ++L) {
        size_t j = k + L;
        uint32_t f = fq[(L - 1) * N + k];
        double lp = f ? std::log((double)f) - d.log_total : (j == k + 1 ? -d.log_total : -1e300);
        if (lp > -1e299 && lp + best[j] > b) { b = lp + best[j]; bj = j; }
      }
      best[k] = b;
      next[k] = (uint32_t)bj;
    }
    for (size_t k = a; k < e; k = next[k]) {
      out.push_back({starts[k], starts[next[k]]});
      out_h.push_back(hq[(next[k] - k - 1) * N + k]);
    }
    a = e + 1;
  }
}
void segment_run(const ZhDict& d, std::string_view run, std::vector<Seg>& out);

// ------------------------------------------------------------------ tokenization
// A token stream with sentence breaks: bigrams never cross punctuation.
struct Tok {
  uint64_t h;
  uint32_t chars;
  bool brk;  // a break precedes this token
  size_t begin, end;
};

void tokens_en(std::string_view s, std::vector<Tok>& out);

template <class Look, class Pre>
void tokens_zh(const ZhDict& d, const Look& look, const Pre& pre, std::string_view s, std::vector<Tok>& out) {
  out.clear();
  thread_local std::vector<Run> runs;
  thread_local std::vector<uint8_t> run_brk;  // a break precedes the run
  thread_local std::vector<Seg> segs;
  thread_local std::vector<uint64_t> hs;
  runs.clear();
  run_brk.clear();
  bool brk = true;
  size_t i = 0;
  while (i < s.size()) {
    size_t st = i;
    uint32_t c = utf8_next(s, i);
    if (!is_han(c)) {
      if (!(c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == 0x3000)) brk = true;
      continue;
    }
    size_t end = i;
    while (end < s.size()) {
      size_t j = end;
      if (!is_han(utf8_next(s, j))) break;
      end = j;
    }
    runs.push_back({st, end});
    run_brk.push_back(brk);
    brk = false;
    i = end;
  }
  segs.clear();
  hs.clear();
  segment_runs(d, look, pre, s, runs, segs, hs);
  size_t r = 0;
  for (size_t q = 0; q < segs.size(); ++q) {
    const Seg& g = segs[q];
    bool first = r < runs.size() && g.begin == runs[r].begin;  // a run's first word
    out.push_back({hs[q], (uint32_t)((g.end - g.begin) / 3), first && run_brk[r], g.begin, g.end});
    r += first;
  }
}
void tokens_zh(const ZhDict& d, std::string_view s, std::vector<Tok>& out);

// The spinner's resources (synth_spin.cpp); the model uses the WordNet synonyms too.
struct SpinResources {
  std::unordered_map<std::string, std::vector<std::string>> synonyms;  // WordNet, single words
  ZhDict zh;
};
const SpinResources& spin_resources();

}  // namespace veritas::spun
