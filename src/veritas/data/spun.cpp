// Machine-spun text detection. Reference statistics come from Debian packages (see
// spun.hpp and docs/curation-filters.md); they are built once, cached as a binary file
// and shared read-only between threads.
//
// Passages: every source (see sources()) is cut into passages (5 KJV verses, 8 WordNet
// glosses, 2 Chinese fortunes; documentation paragraphs joined to ~500 / ~450 bytes);
// a source's passage k goes to the held-out split when k % 10 == 0, to the tuning split
// when k % 10 == 5, and to the reference statistics otherwise. So neither tuning nor
// held-out text is ever seen by the statistics, and held-out text never tunes anything.
#include "veritas/data/spun.hpp"

#include <sys/mman.h>
#define XXH_INLINE_ALL  // the same hash, inlined: a dozen hashes per word
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "veritas/data/hash_counter.hpp"
#include "veritas/data/quality.hpp"
#include "veritas/util/config.hpp"
#include "veritas/util/text.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/timer.hpp"

namespace veritas {

namespace {

constexpr uint32_t kVersion = 31;  // bump when features, sources or splits change
// Token cells: unigram-frequency bucket (6) x token length (3, Chinese only) x left-pair
// state (kPair) x right-pair state (kPair) x synonym state (kSyn).
constexpr int kPair = 7;
constexpr int kSyn = 8;            // how much better a WordNet synonym fits (see token_cells)
constexpr uint64_t kMaxSyn = 10;   // synonyms tried per word (the most frequent)
constexpr uint32_t kFitPair = 1;   // a word whose pairs are seen this often is not tested
// English mixture evidence: the share of substituted tokens it tests for (see fit()).
constexpr double kMixRho = 0.003;
constexpr int kCells = 6 * 3 * kPair * kPair * kSyn;
const char* const kWordnetDir = "/usr/share/wordnet";
const char* const kJiebaDict = "/usr/lib/python3/dist-packages/jieba/dict.txt";
const char* const kFortunesZh = "/usr/share/games/fortunes/chinese";
const char* const kFortunesDir = "/usr/share/games/fortunes";
const char* const kGcide = "/usr/share/dictd/gcide.dict.dz";
const char* const kHandbook = "/usr/share/doc/debian-handbook/html";
const char* const kReferenceZh = "/usr/share/debian-reference";
const char* const kFaqZh = "/usr/share/doc/debian/FAQ/zh-cn";
const char* const kMaintGuideZh = "/usr/share/doc/maint-guide-zh-cn/html";
const char* const kPythonDoc = "/usr/share/doc/python3.11/html";
const char* const kManZh = "/usr/share/man/zh_CN/man*/*.gz";

constexpr auto mix = filters::mix64;
inline uint64_t hash_bytes(std::string_view s) { return XXH3_64bits(s.data(), s.size()) | 1; }
inline uint64_t pair_key(uint64_t a, uint64_t b) { return (mix(a) * 31 + b) | 1; }

inline bool is_han(uint32_t c) { return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF); }
inline bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Open-addressing map from a 64-bit hash (never 0) to a 32-bit count.
struct Table {
  std::vector<uint64_t> keys;
  std::vector<uint32_t> vals;
  size_t mask = 0, used = 0;
  Table() { init(1024); }
  void init(size_t cap) {
    keys.assign(cap, 0);
    vals.assign(cap, 0);
    mask = cap - 1;
    used = 0;
  }
  void prefetch(uint64_t k) const {
    size_t i = mix(k) & mask;
    __builtin_prefetch(&keys[i]);
    __builtin_prefetch(&vals[i]);
  }
  uint32_t get(uint64_t k) const {
    size_t i = mix(k) & mask;
    while (keys[i]) {
      if (keys[i] == k) return vals[i];
      i = (i + 1) & mask;
    }
    return 0;
  }
  void add(uint64_t k, uint32_t v) {
    if ((used + 1) * 2 > keys.size()) grow();
    size_t i = mix(k) & mask;
    while (keys[i] && keys[i] != k) i = (i + 1) & mask;
    if (!keys[i]) { keys[i] = k; ++used; }
    vals[i] += v;
  }
  void grow() {
    Table t;
    t.init(keys.size() * 2);
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i]) t.add(keys[i], vals[i]);
    *this = std::move(t);
  }
};

// Frozen count table for the large pair tables: built once from a list of keys (sorted
// and counted, so building needs no growing hash map), open addressing at load <= 0.6,
// 32-bit fingerprints and 32-bit counts (8 bytes a slot). The slot comes from the low
// bits of the mixed key and the fingerprint from its high bits, so a false match needs
// 31 + log2(capacity) equal bits.
struct CountTable {
  std::vector<uint32_t> keys, vals;
  size_t mask = 0, used = 0;
  CountTable() : keys(1, 0), vals(1, 0) {}
  static uint32_t fp(uint64_t h) { return (uint32_t)(h >> 32) | 1; }
  void prefetch(uint64_t k) const {
    size_t i = mix(k) & mask;
    __builtin_prefetch(&keys[i]);
    __builtin_prefetch(&vals[i]);
  }
  uint32_t get(uint64_t k) const {
    uint64_t h = mix(k);
    uint32_t f = fp(h);
    size_t i = h & mask;
    while (keys[i]) {
      if (keys[i] == f) return vals[i];
      i = (i + 1) & mask;
    }
    return 0;
  }
  void build(std::vector<uint64_t>& ks) {
    std::sort(ks.begin(), ks.end());
    size_t distinct = 0;
    for (size_t i = 0; i < ks.size(); ++i) distinct += i == 0 || ks[i] != ks[i - 1];
    size_t cap = 1024;
    while (cap * 6 < distinct * 10) cap *= 2;
    keys.assign(cap, 0);
    vals.assign(cap, 0);
    mask = cap - 1;
    used = distinct;
    for (size_t i = 0; i < ks.size();) {
      size_t j = i;
      while (j < ks.size() && ks[j] == ks[i]) ++j;
      uint64_t h = mix(ks[i]);
      uint32_t f = fp(h);
      size_t s = h & mask;
      while (keys[s] && keys[s] != f) s = (s + 1) & mask;
      keys[s] = f;
      vals[s] += (uint32_t)(j - i);
      i = j;
    }
    std::vector<uint64_t>().swap(ks);
  }
};

struct LangStats {
  Table uni;
  CountTable bi;
  double total = 1;
  // log P(cell | token of a spun text) - log P(cell | token of a clean text), and the
  // document-score offset that puts prob 0.5 at the chosen operating point.
  double llr[kCells] = {};
  // Document model: logistic regression over doc_features(), standardized.
  // English: per-cell log likelihood ratio of a text with a share kMixRho of substituted
  // tokens against clean text, log(1 - rho + rho * P(c | substituted) / P(c | clean));
  // summed over a document's tokens (see fit()). Zero for Chinese.
  double mixw[kCells] = {};
  static constexpr int kDoc = 14;
  double mu[kDoc] = {}, sd[kDoc] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, w[kDoc + 1] = {};
  double offset = 0, offset_classical = 0;
  // Chinese texts whose share of one-character words is at least this cut ("classical":
  // verse such as fortunes-zh) get the operating point offset_classical. The cut is
  // derived from the tuning split only (see classical_cut()); 2 (never) for English.
  double classical_cut = 2;
  // Clean-text (tuning split) means of the cell score and of the two character-pair shares.
  // Clean tuning means of the evidence features.
  double prior[6] = {};
};

// ------------------------------------------------------------------ tortured phrases
// Known substitution pairs, written for this project after the examples reported by
// Cabanac, Labbé & Magazinov (2021), "Tortured phrases: A dubious writing style
// emerging in science" (arXiv:2107.06751). Only the spun side is matched.
const std::vector<std::pair<std::string, std::string>>& tortured_pairs() {
  static const std::vector<std::pair<std::string, std::string>> v = {
      {"counterfeit consciousness", "artificial intelligence"},
      {"man-made consciousness", "artificial intelligence"},
      {"man-made brainpower", "artificial intelligence"},
      {"fake knowledge", "artificial intelligence"},
      {"profound learning", "deep learning"},
      {"profound neural organization", "deep neural network"},
      {"neural organization", "neural network"},
      {"convolutional neural organization", "convolutional neural network"},
      {"colossal information", "big data"},
      {"enormous information", "big data"},
      {"huge information", "big data"},
      {"irregular woodland", "random forest"},
      {"arbitrary woodland", "random forest"},
      {"choice tree", "decision tree"},
      {"bolster vector machine", "support vector machine"},
      {"backing vector machine", "support vector machine"},
      {"k-closest neighbor", "k-nearest neighbor"},
      {"flag to clamor", "signal to noise"},
      {"flag to commotion", "signal to noise"},
      {"bosom malignancy", "breast cancer"},
      {"bosom disease", "breast cancer"},
      {"bosom peril", "breast cancer"},
      {"mean square blunder", "mean square error"},
      {"haphazard access memory", "random access memory"},
      {"cloud registering", "cloud computing"},
      {"remote sensor organization", "wireless sensor network"},
      {"web of things", "internet of things"},
      {"vitality utilization", "energy consumption"},
      {"vitality productivity", "energy efficiency"},
      {"pc vision", "computer vision"},
      {"common language handling", "natural language processing"},
      {"characteristic language preparing", "natural language processing"},
      {"straight relapse", "linear regression"},
      {"calculated relapse", "logistic regression"},
      {"subterranean insect settlement", "ant colony"},
      {"molecule swarm enhancement", "particle swarm optimization"},
      {"hereditary calculation", "genetic algorithm"},
      {"fluffy rationale", "fuzzy logic"},
      {"shrewd matrix", "smart grid"},
      {"worldwide positioning framework", "global positioning system"},
      {"circulatory strain", "blood pressure"},
      {"kidney disappointment", "kidney failure"},
      {"heart disappointment", "heart failure"},
      {"motor vitality", "kinetic energy"},
      {"information stockroom", "data warehouse"},
      {"versatile organization", "mobile network"},
  };
  return v;
}
const PhraseMatcher& tortured_matcher() {
  static const PhraseMatcher m([] {
    std::vector<std::string> v;
    for (auto& p : tortured_pairs()) v.push_back(p.first);
    return v;
  }());
  return m;
}

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

void load_zh_dict(ZhDict& d, bool with_pos) {
  std::string text = read_file(kJiebaDict);
  double total = 0;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    size_t a = line.find(' ');
    if (a == std::string_view::npos) continue;
    size_t b = line.find(' ', a + 1);
    std::string_view word = line.substr(0, a);
    uint32_t f = (uint32_t)std::strtoul(std::string(line.substr(a + 1, b == std::string_view::npos ? b : b - a - 1)).c_str(), nullptr, 10);
    if (!f) continue;
    d.freq.add(hash_bytes(word), f);
    total += f;
    int chars = 0;
    size_t i = 0;
    while (i < word.size()) {
      utf8_next(word, i);
      ++chars;
      d.prefix.add(hash_bytes(word.substr(0, i)), 1);
    }
    d.max_chars = std::max(d.max_chars, chars);
    if (with_pos && b != std::string_view::npos) {
      std::string p(line.substr(b + 1));
      while (!p.empty() && (p.back() == '\r' || p.back() == ' ')) p.pop_back();
      if (f >= 50 && chars >= 2) d.by_pos[{p, chars}].emplace_back(word);
      d.pos_of.emplace(std::string(word), p);
    }
  }
  check(total > 0, std::string(kJiebaDict) + ": no entries (is python3-jieba installed?)");
  d.log_total = std::log(total);
}

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
void segment_run(const ZhDict& d, std::string_view run, std::vector<Seg>& out) {
  thread_local std::vector<uint64_t> hs;
  hs.clear();
  segment_runs(d, [&](uint64_t h) { return DictHit{d.freq.get(h), d.prefix.get(h) != 0}; }, [](uint64_t) {},
               run, {Run{0, run.size()}}, out, hs);
}

// ------------------------------------------------------------------ tokenization
// A token stream with sentence breaks: bigrams never cross punctuation.
struct Tok {
  uint64_t h;
  uint32_t chars;
  bool brk;  // a break precedes this token
  size_t begin, end;
};

void tokens_en(std::string_view s, std::vector<Tok>& out) {
  out.clear();
  bool brk = true;
  size_t i = 0;
  char buf[64];
  while (i < s.size()) {
    char c = s[i];
    if (is_ascii_alpha(c)) {
      size_t st = i;
      int n = 0;
      while (i < s.size() && is_ascii_alpha(s[i])) {
        if (n < 64) buf[n++] = (char)(s[i] | 0x20);
        ++i;
      }
      out.push_back({hash_bytes(std::string_view(buf, n)), (uint32_t)(i - st), brk, st, i});
      brk = false;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\'' || c == '-') { ++i; continue; }
    if ((unsigned char)c >= 0x80) { utf8_next(s, i); brk = true; continue; }
    brk = true;  // digits, punctuation
    ++i;
  }
}

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
void tokens_zh(const ZhDict& d, std::string_view s, std::vector<Tok>& out) {
  tokens_zh(d, [&](uint64_t h) { return DictHit{d.freq.get(h), d.prefix.get(h) != 0}; }, [](uint64_t) {}, s, out);
}

// ------------------------------------------------------------------ sources
struct Passage {
  std::string text;
  int split;    // -1 reference statistics, 0 tuning, 1 held-out
  int src = 0;  // index of the source (see sources())
};
int split_of(size_t k) { return k % 10 == 0 ? 1 : k % 10 == 5 ? 0 : -1; }

std::string run_command(const std::string& cmd, const std::string& package) {
  std::FILE* p = ::popen(cmd.c_str(), "r");
  check(p != nullptr, "cannot run '" + cmd + "' (package " + package + ")");
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  check(rc == 0 && !out.empty(), "'" + cmd + "' failed (is Debian package " + package + " installed?)");
  return out;
}

std::vector<std::string> kjv_verses() {
  std::string text = run_command("bible 'Gen1:1-Rev22:21' 2>/dev/null", "bible-kjv");
  std::vector<std::string> verses;
  size_t pos = 0;
  bool prev_blank = true;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) { prev_blank = true; continue; }
    bool verse_start = line.size() > 3 && line[0] == ' ' && line.find_first_not_of(' ') != std::string_view::npos &&
                       std::isdigit((unsigned char)line[line.find_first_not_of(' ')]);
    if (verse_start) {
      size_t a = line.find_first_not_of(' ');
      size_t b = line.find(' ', a);
      verses.emplace_back(b == std::string_view::npos ? "" : line.substr(b + 1));
    } else if (!prev_blank && !verses.empty()) {
      verses.back() += ' ';
      verses.back() += line;
    }  // else a "Book N" header
    prev_blank = false;
  }
  return verses;
}

// Calls f(line) for each line of text, without its '\n'.
template <class F>
void for_each_line(std::string_view text, F f) {
  size_t p = 0;
  while (p < text.size()) {
    size_t nl = text.find('\n', p);
    if (nl == std::string_view::npos) nl = text.size();
    f(text.substr(p, nl - p));
    p = nl + 1;
  }
}

std::vector<std::string> wordnet_glosses() {
  std::vector<std::string> glosses;
  for (const char* pos : {"noun", "verb", "adj", "adv"}) {
    std::string text = read_file(std::string(kWordnetDir) + "/data." + pos);
    for_each_line(text, [&](std::string_view line) {
      if (line.size() < 2 || line[0] == ' ') return;  // license header
      size_t bar = line.find(" | ");
      if (bar == std::string_view::npos) return;
      std::string g(line.substr(bar + 3));
      while (!g.empty() && g.back() == ' ') g.pop_back();
      // The definition and its quoted examples, as sentences.
      for (char& c : g) if (c == '"') c = ' ';
      glosses.push_back(g + ".");
    });
  }
  return glosses;
}

std::vector<std::string> fortunes_zh() {
  std::string text = read_file(kFortunesZh);
  std::vector<std::string> entries;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) entries.push_back(cur);
    cur.clear();
  };
  for_each_line(text, [&](std::string_view line) {
    if (line == "%") { flush(); return; }
    // Strip ANSI colour codes and the attribution line.
    std::string clean;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\x1b') {
        while (i < line.size() && line[i] != 'm') ++i;
        continue;
      }
      clean += line[i];
    }
    size_t a = clean.find_first_not_of(' ');
    if (a == std::string::npos) return;
    if (clean.compare(a, 3, "-- ") == 0) return;
    cur += clean.substr(a);
    cur += '\n';
  });
  flush();
  return entries;
}

std::vector<Passage> group(const std::vector<std::string>& items, size_t per) {
  std::vector<Passage> out;
  for (size_t k = 0; k * per < items.size(); ++k) {
    Passage p;
    p.split = split_of(k);
    for (size_t t = k * per; t < std::min(items.size(), (k + 1) * per); ++t) {
      if (!p.text.empty()) p.text += ' ';
      p.text += items[t];
    }
    out.push_back(std::move(p));
  }
  return out;
}

// ---- Modern prose: HTML documentation, man pages, GCIDE, English fortunes.
// Block-level HTML tags end a paragraph; <pre>, <script>, <style> and <head> are dropped
// with their content; other tags are removed; common entities decoded.
void append_entity(std::string_view s, size_t& i, std::string& out) {
  size_t semi = s.find(';', i);
  if (semi == std::string_view::npos || semi - i > 10) { out += '&'; ++i; return; }
  std::string_view e = s.substr(i + 1, semi - i - 1);
  uint32_t cp = 0;
  if (e == "amp") cp = '&';
  else if (e == "lt") cp = '<';
  else if (e == "gt") cp = '>';
  else if (e == "quot") cp = '"';
  else if (e == "apos") cp = '\'';
  else if (e == "nbsp") cp = ' ';
  else if (e.size() > 1 && e[0] == '#')
    cp = (uint32_t)(e[1] == 'x' || e[1] == 'X' ? std::strtoul(std::string(e.substr(2)).c_str(), nullptr, 16)
                                                : std::strtoul(std::string(e.substr(1)).c_str(), nullptr, 10));
  if (cp == 0 || cp > 0x10FFFF) { out += '&'; ++i; return; }
  if (cp < 0x80) out += (char)cp;
  else if (cp < 0x800) { out += (char)(0xC0 | cp >> 6); out += (char)(0x80 | (cp & 0x3F)); }
  else if (cp < 0x10000) { out += (char)(0xE0 | cp >> 12); out += (char)(0x80 | (cp >> 6 & 0x3F)); out += (char)(0x80 | (cp & 0x3F)); }
  else { out += (char)(0xF0 | cp >> 18); out += (char)(0x80 | (cp >> 12 & 0x3F)); out += (char)(0x80 | (cp >> 6 & 0x3F)); out += (char)(0x80 | (cp & 0x3F)); }
  i = semi + 1;
}

void html_blocks(std::string_view s, std::vector<std::string>& out) {
  static const char* const blocks[] = {"p", "div", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd",
                                       "br", "tr", "title", "table", "ul", "ol", "dl", "blockquote", "body"};
  static const char* const skip[] = {"pre", "script", "style", "head"};
  std::string cur;
  auto flush = [&] {
    std::string t;
    bool sp = false;
    for (char c : cur) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { sp = !t.empty(); continue; }
      if (sp) t += ' ';
      sp = false;
      t += c;
    }
    if (!t.empty()) out.push_back(std::move(t));
    cur.clear();
  };
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '&') { append_entity(s, i, cur); continue; }
    if (c != '<') { cur += c; ++i; continue; }
    size_t end = s.find('>', i);
    if (end == std::string_view::npos) break;
    size_t a = i + 1 + (i + 1 < s.size() && s[i + 1] == '/');
    size_t b = a;
    while (b < end && std::isalnum((unsigned char)s[b])) ++b;
    std::string name(s.substr(a, b - a));
    for (char& ch : name) ch = (char)std::tolower((unsigned char)ch);
    bool closing = s[i + 1] == '/';
    i = end + 1;
    if (!closing && std::find(std::begin(skip), std::end(skip), name) != std::end(skip)) {
      flush();
      std::string close = "</" + name;
      size_t e = i;
      while (true) {  // case-insensitive search for the closing tag
        e = s.find("</", e);
        if (e == std::string_view::npos) { i = s.size(); break; }
        std::string t(s.substr(e, close.size()));
        for (char& ch : t) ch = (char)std::tolower((unsigned char)ch);
        if (t == close) { size_t g = s.find('>', e); i = g == std::string_view::npos ? s.size() : g + 1; break; }
        e += 2;
      }
      continue;
    }
    if (std::find(std::begin(blocks), std::end(blocks), name) != std::end(blocks)) flush();
  }
  flush();
}

std::vector<std::string> list_files(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> v;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string p = it->path().string();
    if (p.size() >= suffix.size() && p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) v.push_back(p);
  }
  std::sort(v.begin(), v.end());  // a fixed order: the splits must not depend on the file system
  return v;
}

std::vector<std::string> html_source(const std::string& dir, const std::string& suffix, const std::string& package) {
  auto files = list_files(dir, suffix);
  check(!files.empty(), "spun: no " + suffix + " files under " + dir + " (is Debian package " + package + " installed?)");
  std::vector<std::string> out;
  for (auto& f : files) html_blocks(read_file(f), out);
  return out;
}

// Man pages (groff): request lines (.XX) end a paragraph and are dropped; font and
// character escapes are removed.
std::vector<std::string> man_source(const std::string& glob, const std::string& package) {
  std::string text = run_command("zcat " + glob + " 2>/dev/null", package);
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(cur);
    cur.clear();
  };
  for_each_line(text, [&](std::string_view line) {
    if (line.empty() || line[0] == '.' || line[0] == '\'') { flush(); return; }
    std::string t;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] != '\\') { t += line[i]; continue; }
      if (++i >= line.size()) break;
      char e = line[i];
      if (e == '-') t += '-';
      else if (e == 'e' || e == '\\') t += '\\';
      else if (e == ' ') t += ' ';
      else if (e == '"') break;  // comment
      else if (e == 'f' || e == '*') {
        if (i + 1 < line.size() && line[i + 1] == '(') i += 3;
        else if (i + 1 < line.size() && line[i + 1] == '[') { size_t c = line.find(']', i); i = c == std::string_view::npos ? line.size() : c; }
        else ++i;
      } else if (e == '(') i += 2;
    }
    if (!cur.empty()) cur += ' ';
    cur += t;
  });
  flush();
  return out;
}

// GCIDE (dict-gcide): the dictd text; entry bodies are indented, paragraphs separated
// by blank lines; bracketed etymologies and source tags ([1913 Webster]) are removed.
std::vector<std::string> gcide_source() {
  std::string text = run_command(std::string("zcat ") + kGcide, "dict-gcide");
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    std::string t;
    int depth = 0;
    for (char c : cur) {
      if (c == '[') { ++depth; continue; }
      if (c == ']') { depth = std::max(0, depth - 1); continue; }
      if (!depth) t += c;
    }
    if (t.size() > 20) out.push_back(std::move(t));
    cur.clear();
  };
  for_each_line(text, [&](std::string_view line) {
    if (line.size() < 3 || line[0] != ' ') { flush(); return; }  // blank or a headword line
    size_t a = line.find_first_not_of(' ');
    if (a == std::string_view::npos) { flush(); return; }
    if (!cur.empty()) cur += ' ';
    cur += line.substr(a);
  });
  flush();
  return out;
}

// fortune-mod files: entries separated by "%" lines.
std::vector<std::string> fortune_entries(const std::string& text) {
  std::vector<std::string> entries;
  std::string cur;
  for_each_line(text, [&](std::string_view line) {
    if (line == "%") { if (!cur.empty()) entries.push_back(cur); cur.clear(); return; }
    size_t a = line.find_first_not_of(" \t");
    if (a == std::string_view::npos) return;
    if (!cur.empty()) cur += ' ';
    cur += line.substr(a);
  });
  if (!cur.empty()) entries.push_back(cur);
  return entries;
}
std::vector<std::string> fortunes_en() {
  static const char* const skip[] = {"chinese", "song100", "tang300", "art", "ascii-art"};
  std::vector<std::string> out;
  std::error_code ec;
  std::vector<std::string> files;
  for (auto& e : fs::directory_iterator(kFortunesDir, ec)) {
    std::string name = e.path().filename().string();
    if (name.find('.') != std::string::npos || !e.is_regular_file(ec)) continue;
    if (std::find(std::begin(skip), std::end(skip), name) != std::end(skip)) continue;
    if (!fs::exists(e.path().string() + ".dat", ec)) continue;
    files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  check(files.size() >= 10, std::string("spun: no English fortunes under ") + kFortunesDir + " (is Debian package fortunes installed?)");
  for (auto& f : files)
    for (auto& e : fortune_entries(read_file(f))) out.push_back(std::move(e));
  return out;
}

// Prose filters: Chinese items need >= 10 Han characters making at least half of the
// Han + ASCII alphanumerics (drops command lines, code, untranslated strings); English
// items >= 8 words with letters >= 75 % of the non-space characters.
bool prose_zh(std::string_view s) {
  size_t i = 0;
  int han = 0, ascii = 0;
  while (i < s.size()) {
    uint32_t c = utf8_next(s, i);
    if (is_han(c)) ++han;
    else if (c < 0x80 && std::isalnum((int)c)) ++ascii;
  }
  return han >= 10 && han >= ascii;
}
bool prose_en(std::string_view s) {
  int letters = 0, other = 0, words = 0;
  bool in = false;
  for (char c : s) {
    bool l = is_ascii_alpha(c);
    if (l && !in) ++words;
    in = l;
    if (l) ++letters;
    else if (c != ' ') ++other;
  }
  return words >= 8 && letters >= 3 * other;
}

// Consecutive items joined until a passage reaches min_bytes.
std::vector<std::string> join_to(const std::vector<std::string>& items, size_t min_bytes, const char* sep) {
  std::vector<std::string> out;
  std::string cur;
  for (auto& it : items) {
    if (!cur.empty()) cur += sep;
    cur += it;
    if (cur.size() >= min_bytes) { out.push_back(std::move(cur)); cur.clear(); }
  }
  return out;
}

// Every source's items are deduplicated across the language (first occurrence wins), cut
// into passages, and each source's passage k goes to split_of(k).
struct Source {
  std::string name;
  std::vector<Passage> passages;
};
void add_source(std::vector<Source>& out, std::unordered_set<uint64_t>& seen, const char* name,
                std::vector<std::string> items, bool (*keep)(std::string_view), size_t per, size_t min_bytes,
                const char* sep) {
  std::vector<std::string> kept;
  for (auto& it : items) {
    if (keep && !keep(it)) continue;
    bool fresh = seen.insert(hash_bytes(it)).second;
    // Items of the grouped sources (verses, glosses, fortunes) are natural text whose
    // repetitions are kept (as in earlier versions, so their passages are unchanged);
    // documentation paragraphs seen before (navigation, repeated boilerplate) are dropped.
    if (fresh || per) kept.push_back(std::move(it));
  }
  Source s;
  s.name = name;
  if (per) s.passages = group(kept, per);
  else {
    auto joined = join_to(kept, min_bytes, sep);
    for (size_t k = 0; k < joined.size(); ++k) s.passages.push_back({std::move(joined[k]), split_of(k)});
  }
  for (Passage& p : s.passages) p.src = (int)out.size();
  out.push_back(std::move(s));
}
// original_only: the sources of earlier versions (KJV and WordNet glosses; fortunes-zh),
// which come first and whose passages do not depend on the others.
std::vector<Source> sources(Lang lang, bool original_only = false) {
  std::vector<Source> out;
  std::unordered_set<uint64_t> seen;
  if (lang != Lang::Zh) {
    add_source(out, seen, "kjv", kjv_verses(), nullptr, 5, 0, " ");
    add_source(out, seen, "wordnet", wordnet_glosses(), nullptr, 8, 0, " ");
    if (original_only) return out;
    add_source(out, seen, "gcide", gcide_source(), prose_en, 0, 500, " ");
    add_source(out, seen, "handbook", html_source(std::string(kHandbook) + "/en-US", ".html", "debian-handbook"),
               prose_en, 0, 500, "\n");
    add_source(out, seen, "fortunes", fortunes_en(), prose_en, 0, 400, "\n");
    add_source(out, seen, "python-doc", html_source(kPythonDoc, ".html", "python3.11-doc"), prose_en, 0, 500, "\n");
  } else {
    add_source(out, seen, "fortunes-zh", fortunes_zh(), nullptr, 2, 0, "");
    if (original_only) return out;
    add_source(out, seen, "handbook", html_source(std::string(kHandbook) + "/zh-CN", ".html", "debian-handbook"),
               prose_zh, 0, 450, "\n");
    add_source(out, seen, "reference", html_source(kReferenceZh, ".zh-cn.html", "debian-reference-zh-cn"), prose_zh,
               0, 450, "\n");
    add_source(out, seen, "faq", html_source(kFaqZh, ".zh-cn.html", "debian-faq-zh-cn"), prose_zh, 0, 450, "\n");
    add_source(out, seen, "maint-guide", html_source(kMaintGuideZh, ".zh-cn.html", "maint-guide-zh-cn"), prose_zh, 0,
               450, "\n");
    add_source(out, seen, "manpages", man_source(kManZh, "manpages-zh"), prose_zh, 0, 450, "\n");
  }
  return out;
}
// All passages, sources interleaved round-robin (so a prefix is a balanced mix).
std::vector<Passage> interleave(const std::vector<Source>& src) {
  std::vector<Passage> out;
  for (size_t k = 0;; ++k) {
    bool any = false;
    for (auto& s : src)
      if (k < s.passages.size()) { out.push_back(s.passages[k]); any = true; }
    if (!any) break;
  }
  return out;
}
std::vector<Passage> passages_en() { return interleave(sources(Lang::En)); }
std::vector<Passage> passages_zh() { return interleave(sources(Lang::Zh)); }

// ------------------------------------------------------------------ substitution script
struct SpinResources {
  std::unordered_map<std::string, std::vector<std::string>> synonyms;  // WordNet, single words
  ZhDict zh;
};
const SpinResources& spin_resources() {
  static std::once_flag once;
  static std::unique_ptr<SpinResources> r;
  std::call_once(once, [] {
    r = std::make_unique<SpinResources>();
    for (const char* pos : {"noun", "verb", "adj", "adv"}) {
      std::string text = read_file(std::string(kWordnetDir) + "/data." + pos);
      size_t p = 0;
      while (p < text.size()) {
        size_t nl = text.find('\n', p);
        if (nl == std::string::npos) nl = text.size();
        std::string line(text.data() + p, nl - p);
        p = nl + 1;
        if (line.size() < 2 || line[0] == ' ') continue;
        // offset lex_filenum ss_type w_cnt(hex) word lex_id ...
        char off[16], ss[4];
        int lexfile = 0, consumed = 0;
        unsigned wcnt = 0;
        if (std::sscanf(line.c_str(), "%15s %d %3s %x%n", off, &lexfile, ss, &wcnt, &consumed) != 4) continue;
        std::vector<std::string> words;
        size_t q = consumed;
        for (unsigned k = 0; k < wcnt; ++k) {
          while (q < line.size() && line[q] == ' ') ++q;
          size_t e = line.find(' ', q);
          std::string w = line.substr(q, e - q);
          q = line.find(' ', e + 1);  // skip lex_id
          size_t paren = w.find('(');
          if (paren != std::string::npos) w = w.substr(0, paren);
          bool simple = !w.empty() && std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; });
          if (simple) words.push_back(w);
        }
        for (auto& a : words)
          for (auto& b : words)
            if (a != b) r->synonyms[a].push_back(b);
      }
    }
    for (auto& [k, v] : r->synonyms) {
      std::sort(v.begin(), v.end());
      v.erase(std::unique(v.begin(), v.end()), v.end());
    }
    load_zh_dict(r->zh, true);
  });
  return *r;
}

bool is_stop_en(std::string_view w) {
  static const char* const stop[] = {"the", "and", "of", "to", "a", "in", "that", "is", "was", "he", "for", "it",
                                     "with", "as", "his", "on", "be", "at", "by", "i", "this", "had", "not", "are",
                                     "but", "from", "or", "have", "an", "they", "which", "one", "you", "were", "her",
                                     "all", "she", "there", "would", "their", "we", "him", "been", "has", "when",
                                     "who", "will", "more", "no", "if", "out", "so", "said", "what", "up", "its",
                                     "about", "into", "than", "them", "can", "only", "other", "new", "some", "could",
                                     "time", "these", "two", "may", "then", "do", "first", "any", "my", "now", "such",
                                     "like", "our", "over", "man", "me", "even", "most", "made", "after", "also",
                                     "did", "many", "before", "must", "through", "back", "years", "where", "much",
                                     "your", "way", "well", "down", "should", "because", "each", "just", "those",
                                     "people", "how", "too", "little", "state", "good", "very", "make", "world",
                                     "still", "own", "see", "men", "work", "long", "get", "here", "between", "both",
                                     "life", "being", "under", "never", "day", "same", "another", "know", "while",
                                     "last", "might", "us", "great", "old", "year", "off", "come", "since", "against",
                                     "go", "came", "right", "used", "take", "three", "unto", "shall", "thee", "thou",
                                     "thy", "ye", "hath", "lord", "god", "upon", "let", "saith"};
  for (const char* s : stop)
    if (w == s) return true;
  return false;
}

// ------------------------------------------------------------------ scoring tables
// Read-only copies of the reference tables for scoring, made once after loading or
// building: a probe touches one slot holding key and value (one cache miss, not two),
// tables keyed by the same hash are merged (one probe where there were two to four),
// and the memory is 2 MiB-aligned and advised as huge pages, so random probes over
// ~60 MB do not also miss the TLB. Look-ups give exactly the source tables' answers.
constexpr size_t kHugePage = size_t(1) << 21;
struct FreeMem {
  size_t bytes = 0;
  void operator()(void* p) const { munmap(p, bytes); }
};
template <class S>
struct Slots {
  std::unique_ptr<S, FreeMem> mem;
  size_t mask = 0;
  void alloc(size_t n) {  // n: a power of two
    size_t bytes = (n * sizeof(S) + kHugePage - 1) / kHugePage * kHugePage;
    // Fresh anonymous memory (zero-filled by the kernel), cut to a 2 MiB boundary.
    void* raw = mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(raw != MAP_FAILED, "spun: out of memory for the scoring tables");
    uintptr_t a = (uintptr_t)raw, b = (a + kHugePage - 1) & ~(uintptr_t)(kHugePage - 1);
    if (b > a) munmap(raw, b - a);
    munmap((void*)(b + bytes), a + kHugePage - b);  // the tail past the aligned range (never empty)
    madvise((void*)b, bytes, MADV_HUGEPAGE);  // advice only: without huge pages it still works
    mem = std::unique_ptr<S, FreeMem>((S*)b, FreeMem{bytes});
    mask = n - 1;
  }
  const S& operator[](size_t i) const { return mem.get()[i]; }
  S& operator[](size_t i) { return mem.get()[i]; }
  void prefetch(uint64_t k) const { __builtin_prefetch(mem.get() + (mix(k) & mask)); }
};
// Capacity for n keys at load <= 0.6.
size_t capacity_for(size_t n) {
  size_t c = 1024;
  while (c * 6 < n * 10) c *= 2;
  return c;
}
// Full 64-bit keys (never 0), linear probing.
template <class S>
struct KeyTable : Slots<S> {
  const S* find(uint64_t k) const {
    size_t i = mix(k) & this->mask;
    for (const S* t = this->mem.get();; i = (i + 1) & this->mask) {
      if (t[i].key == k) return &t[i];
      if (!t[i].key) return nullptr;
    }
  }
  S& insert(uint64_t k) {
    size_t i = mix(k) & this->mask;
    S* t = this->mem.get();
    while (t[i].key && t[i].key != k) i = (i + 1) & this->mask;
    t[i].key = k;
    return t[i];
  }
};
struct EnWord {  // English word: reference count and 1 + its synonym list index (0: none)
  uint64_t key;
  uint32_t uni, syn;
};
struct ZhWord {  // Chinese word or dictionary prefix
  uint64_t key;
  uint32_t freq;     // jieba frequency (0: not a dictionary word)
  uint32_t uni : 31; // reference-text count
  uint32_t prefix : 1;
};
struct ZhChars {  // Chinese character pair: bit 0 in the reference text, bit 1 in a dictionary word
  uint64_t key;
  uint64_t seen;
};
// CountTable with fingerprint and count in one slot; same slots and probe order, so the
// same answers (fingerprint false matches included).
struct PairSlot {
  uint32_t fp, count;
};
struct PairTable : Slots<PairSlot> {
  void from(const CountTable& t) {
    alloc(t.keys.size());
    for (size_t i = 0; i < t.keys.size(); ++i) (*this)[i] = {t.keys[i], t.vals[i]};
  }
  uint32_t get(uint64_t k) const {
    uint64_t h = mix(k);
    uint32_t f = CountTable::fp(h);
    const PairSlot* t = mem.get();
    for (size_t i = h & mask; t[i].fp; i = (i + 1) & mask)
      if (t[i].fp == f) return t[i].count;
    return 0;
  }
};
struct ScoreTables {
  KeyTable<EnWord> en;
  KeyTable<ZhWord> zh;
  KeyTable<ZhChars> zh_chars;
  PairTable en_bi, zh_bi;
};
template <class F>
void for_each_key(const Table& t, F&& f) {
  for (size_t i = 0; i < t.keys.size(); ++i)
    if (t.keys[i]) f(t.keys[i], t.vals[i]);
}

// ------------------------------------------------------------------ features
struct Impl0 {
  LangStats en, zh;
  ZhDict dict;  // segmentation (frequencies only)
  // English WordNet synonyms: word hash -> 1 + index into syn_flat, where syn_flat[i] is
  // the count n and syn_flat[i+1 .. i+n] the synonyms' hashes.
  Table syn_index;
  std::vector<uint64_t> syn_flat;
  std::vector<uint32_t> syn_cnt;  // parallel to syn_flat: the synonym's reference count
  // Chinese character bigrams (hash of the 6 UTF-8 bytes): counts in the reference
  // fortunes text (across word boundaries too), and jieba frequencies summed over the
  // dictionary words that contain the bigram. A substituted word meets its neighbours
  // in character pairs that neither source has.
  Table zh_cref, zh_cdict;
  ScoreTables fast;  // made from the tables above by make_score_tables()

  void make_score_tables() {
    fast.en.alloc(capacity_for(en.uni.used + syn_index.used));
    for_each_key(en.uni, [&](uint64_t k, uint32_t v) { fast.en.insert(k).uni = v; });
    for_each_key(syn_index, [&](uint64_t k, uint32_t v) { fast.en.insert(k).syn = v; });
    fast.zh.alloc(capacity_for(dict.prefix.used + zh.uni.used));
    for_each_key(dict.prefix, [&](uint64_t k, uint32_t v) { fast.zh.insert(k).prefix = v != 0; });
    for_each_key(dict.freq, [&](uint64_t k, uint32_t v) { fast.zh.insert(k).freq = v; });
    for_each_key(zh.uni, [&](uint64_t k, uint32_t v) {
      check(v < (1u << 31), "spun: Chinese word count over 31 bits");
      fast.zh.insert(k).uni = v;
    });
    fast.zh_chars.alloc(capacity_for(zh_cref.used + zh_cdict.used));
    for_each_key(zh_cref, [&](uint64_t k, uint32_t v) { fast.zh_chars.insert(k).seen |= v != 0; });
    for_each_key(zh_cdict, [&](uint64_t k, uint32_t v) { fast.zh_chars.insert(k).seen |= (v != 0) << 1; });
    fast.en_bi.from(en.bi);
    fast.zh_bi.from(zh.bi);
  }
  // Scoring needs only the fast copies: the source tables are dropped once saved.
  void drop_source_tables() {
    for (Table* t : {&en.uni, &zh.uni, &dict.freq, &dict.prefix, &syn_index, &zh_cref, &zh_cdict}) *t = Table();
    en.bi = CountTable();
    zh.bi = CountTable();
  }
  DictHit dict_hit(uint64_t h) const {
    const ZhWord* w = fast.zh.find(h);
    return w ? DictHit{w->freq, w->prefix != 0} : DictHit{0, false};
  }
};

void count_zh_char_bigrams(Table& t, std::string_view s, uint32_t weight) {
  size_t i = 0, prev = std::string::npos;
  while (i < s.size()) {
    size_t st = i;
    uint32_t c = utf8_next(s, i);
    bool han = is_han(c) && i - st == 3;
    if (han && prev != std::string::npos) t.add(hash_bytes(s.substr(prev, 6)), weight);
    prev = han ? st : std::string::npos;
  }
}

inline int freq_bucket(uint32_t c, bool zh) {
  // English counts come from ~1.9M reference tokens; jieba frequencies from a far larger corpus.
  if (zh) return c == 0 ? 0 : c < 30 ? 1 : c < 300 ? 2 : c < 3000 ? 3 : c < 30000 ? 4 : 5;
  return c == 0 ? 0 : c < 3 ? 1 : c < 10 ? 2 : c < 100 ? 3 : c < 1000 ? 4 : 5;
}
// Pair state from the observed count c12 against the count expected if the two words
// were independent, E = c1 c2 / N: an unseen pair means little when E is tiny and a lot
// when E is large. 0: no neighbour (sentence break); 1-3: unseen with E < 0.3, < 3, >= 3;
// 4-6: seen with c12 / E < 1, < 10, >= 10.
inline int pair_state(uint32_t c1, uint32_t c2, uint32_t c12, double N) {
  double e = (double)c1 * c2 / N;
  if (c12 == 0) return e < 0.3 ? 1 : e < 3 ? 2 : 3;
  double r = c12 / std::max(e, 1e-9);
  return r < 1 ? 4 : r < 10 ? 5 : 6;
}

// Fills the per-token cells and the diagnostic features; returns the number of tokens.
void token_cells(const Impl0& m, std::string_view text, Lang lang, SpunFeatures& f, std::vector<int>& cells) {
  thread_local std::vector<Tok> toks;
  thread_local std::vector<uint32_t> cnt;
  const bool zh = lang == Lang::Zh;
  const LangStats& st = zh ? m.zh : m.en;
  if (zh) tokens_zh(m.dict, [&](uint64_t h) { return m.dict_hit(h); }, [&](uint64_t h) { m.fast.zh.prefetch(h); }, text, toks);
  else tokens_en(text, toks);
  const PairTable& bi = zh ? m.fast.zh_bi : m.fast.en_bi;
  f = SpunFeatures{};
  f.words = (int)toks.size();
  cells.clear();
  cnt.resize(toks.size());
  const double N = st.total;
  int rare = 0, pairs = 0, unseen = 0;
  thread_local std::vector<uint32_t> freq;
  freq.resize(toks.size());
  // The look-ups miss the cache: their addresses are prefetched a pass ahead.
  thread_local std::vector<uint64_t> pk;
  thread_local std::vector<uint32_t> idx_of;
  pk.assign(toks.size(), 0);
  idx_of.resize(toks.size());
  if (!zh)
    for (size_t k = 0; k < toks.size(); ++k) m.fast.en.prefetch(toks[k].h);
  for (size_t k = 0; k < toks.size(); ++k) {
    if (k + 1 < toks.size() && !toks[k + 1].brk) bi.prefetch(pk[k] = pair_key(toks[k].h, toks[k + 1].h));
    if (zh) {  // segmentation has just probed these slots
      const ZhWord* w = m.fast.zh.find(toks[k].h);
      cnt[k] = w ? w->uni : 0;
      freq[k] = w ? w->freq : 0;
    } else {
      const EnWord* w = m.fast.en.find(toks[k].h);
      cnt[k] = freq[k] = w ? w->uni : 0;
      idx_of[k] = w ? w->syn : 0;
    }
    rare += zh ? freq[k] < 30 : freq[k] < 3;
  }
  int prev_right = 0;  // the pair state between k-1 and k, computed once
  uint32_t prev_c12 = 0;
  for (size_t k = 0; k < toks.size(); ++k) {
    int left = prev_right;
    int right = 0;
    uint32_t c_left = prev_c12, c_right = 0;
    bool has_right = k + 1 < toks.size() && !toks[k + 1].brk;
    if (has_right) {
      uint32_t c12 = bi.get(pk[k]);
      c_right = c12;
      right = pair_state(cnt[k], cnt[k + 1], c12, N);
      if (cnt[k] >= 3 && cnt[k + 1] >= 3) {
        ++pairs;
        unseen += c12 == 0;
      }
    }
    prev_right = right;
    prev_c12 = c_right;
    // Synonym substitution leaves a word whose synonym (often the original word) fits its
    // neighbours better. With smoothed bigram probabilities P(x | a) and P(b | x) (a, b the
    // neighbours; Dirichlet smoothing towards the unigram distribution), the word's fit is
    // L(x) = log P(x | a) + log P(b | x) over the neighbours it has, and d = max over its
    // WordNet synonyms s of L(s) - L(w): how much better the best synonym fits. State 0:
    // no synonyms or no neighbour; 1..7: d < 0, < 2, < 4, < 6, < 9, < 12, >= 12.
    int syn = 0;
    bool has_left = left != 0;
    if (!zh && (has_left || has_right)) {
      uint32_t idx = idx_of[k];
      // A word whose pairs with its neighbours clean text has repeatedly fits: state 1
      // without trying synonyms (the costly part).
      if (idx && (!has_left || c_left >= kFitPair) && (!has_right || c_right >= kFitPair)) {
        syn = 1;
        ++f.syn_tokens;
      } else if (idx) {
        constexpr double mu = 2.0;
        const double inv_n = 1.0 / N;
        const double ca = has_left ? cnt[k - 1] : 0, pb = has_right ? (cnt[k + 1] + 0.5) * inv_n : 0;
        auto fit_of = [&](double cx, double c_ax, double c_xb) {  // exp(L(x)), no log in the loop
          double l = 1, px = (cx + 0.5) * inv_n;
          if (has_left) l *= (c_ax + mu * px) / (ca + mu);
          if (has_right) l *= (c_xb + mu * pb) / (cx + mu);
          return l;
        };
        double own = fit_of(cnt[k], c_left, c_right);
        double best = 0;
        uint32_t best_cnt = 0;
        // The synonyms clean text has, most frequent first (at most kMaxSyn): look-up
        // addresses are prefetched first, so the pair look-ups overlap.
        const uint64_t n_syn = std::min<uint64_t>(m.syn_flat[idx - 1], kMaxSyn);
        uint64_t kl[kMaxSyn], kr[kMaxSyn];
        for (uint64_t q = 0; q < n_syn; ++q) {
          uint64_t sh = m.syn_flat[idx + q];
          if (has_left) bi.prefetch(kl[q] = pair_key(toks[k - 1].h, sh));
          if (has_right) bi.prefetch(kr[q] = pair_key(sh, toks[k + 1].h));
        }
        for (uint64_t q = 0; q < n_syn; ++q) {
          uint32_t cs = m.syn_cnt[idx + q];
          double l = fit_of(cs, has_left ? bi.get(kl[q]) : 0, has_right ? bi.get(kr[q]) : 0);
          if (l > best) { best = l; best_cnt = cs; }
        }
        double d = best > 0 ? std::log(best / own) : -1.0;
        syn = d < 0 ? 1 : d < 2 ? 2 : d < 4 ? 3 : d < 6 ? 4 : d < 9 ? 5 : d < 12 ? 6 : 7;
        ++f.syn_tokens;
        f.syn_evidence += std::min(12.0, std::max(0.0, d - 3));
        if (d >= 4) ++f.suspicious;
        if (d >= 2) ++f.suspicious_weak;
        if (d >= 4 && best_cnt > cnt[k]) ++f.suspicious_rarer;
      }
    }
    uint32_t fr = freq[k];
    int len = zh ? std::min<int>(2, (int)toks[k].chars - 1) : 0;
    cells.push_back((((freq_bucket(fr, zh) * 3 + std::max(0, len)) * kPair + left) * kPair + right) * kSyn + syn);
  }
  if (zh) {
    int bnd = 0, unseen_both = 0, unseen_ref = 0, bnd1 = 0, unseen1 = 0;
    // Character pairs across word boundaries: keys first and prefetched, then probed.
    thread_local std::vector<uint64_t> ck;
    ck.assign(toks.size(), 0);
    for (size_t k = 1; k < toks.size(); ++k) {
      if (toks[k].brk || toks[k - 1].end != toks[k].begin || toks[k].begin < 3) continue;
      m.fast.zh_chars.prefetch(ck[k] = hash_bytes(text.substr(toks[k].begin - 3, 6)));
    }
    for (size_t k = 1; k < toks.size(); ++k) {
      if (!ck[k]) continue;
      const ZhChars* c = m.fast.zh_chars.find(ck[k]);
      uint64_t seen = c ? c->seen : 0;
      bool in_ref = (seen & 1) != 0;
      bool unseen = seen == 0;
      if (toks[k - 1].chars == 1 && toks[k].chars == 1) {  // between two one-character words
        ++bnd1;
        unseen1 += unseen;
        continue;
      }
      ++bnd;
      unseen_ref += !in_ref;
      unseen_both += unseen;
    }
    f.char_pairs_single = bnd1;
    f.char_pairs_single_unseen = bnd1 ? (double)unseen1 / bnd1 : 0;
    f.char_pairs = bnd;
    f.char_pairs_unseen = bnd ? (double)unseen_both / bnd : 0;
    f.char_pairs_unseen_ref = bnd ? (double)unseen_ref / bnd : 0;
  }
  int n = std::max<int>(1, f.words);
  if (zh) {
    int single = 0;
    for (const Tok& t : toks) single += t.chars == 1;
    f.single_char_words = (double)single / n;
  }
  f.rare_words = (double)rare / n;
  f.unseen_bigrams = pairs ? (double)unseen / pairs : 0;
  if (!zh) {
    uint64_t seen = 0;
    tortured_matcher().scan(text, [&](size_t p, size_t) {
      if (!(seen >> (p & 63) & 1)) ++f.lexicon_hits;
      seen |= 1ULL << (p & 63);
    });
  }
}

// Mean cell weight over the document's tokens: a linear model on the cell histogram.
double doc_llr(const LangStats& st, const std::vector<int>& cells, double* mix_sum) {
  double s = 0, m = 0;
  for (int c : cells) { s += st.llr[c]; m += st.mixw[c]; }
  *mix_sum = m;
  return cells.empty() ? 0 : s / cells.size();
}

struct Keys {
  std::vector<uint64_t> pairs;
};
void count_text(const ZhDict* dict, LangStats& st, std::string_view text, Keys& keys) {
  thread_local std::vector<Tok> toks;
  if (dict) tokens_zh(*dict, text, toks);
  else tokens_en(text, toks);
  for (size_t k = 0; k < toks.size(); ++k) {
    st.uni.add(toks[k].h, 1);
    st.total += 1;
    if (k && !toks[k].brk) keys.pairs.push_back(pair_key(toks[k - 1].h, toks[k].h));
  }
}

// Document-level features: suspicious-word rates (per 100 words), the cell model's mean
// score, rare-word and unseen-pair rates.
void doc_features(const LangStats& st, const SpunFeatures& f, double cell_score, double mix_sum, double* x) {
  double n = std::max(1, f.words);
  // Evidence, not a mean: the excess over the clean mean scaled like a t statistic, so a
  // short text's noise does not set the operating point for all texts.
  auto tstat = [](double v, double cnt, double prior) { return (v - prior) * std::sqrt(cnt); };
  const double* prior = st.prior;
  x[0] = 100.0 * f.suspicious_rarer / n;
  x[1] = 100.0 * f.suspicious / n;
  x[2] = 100.0 * f.suspicious_weak / n;
  x[3] = tstat(cell_score, f.words, prior[0]);
  x[4] = f.rare_words;
  x[5] = f.unseen_bigrams;
  x[6] = tstat(f.char_pairs_unseen, f.char_pairs, prior[1]);  // Chinese only (0 for English)
  x[7] = tstat(f.char_pairs_unseen_ref, f.char_pairs, prior[2]);
  // English: the synonym evidence against its clean per-token mean, like a z statistic.
  x[8] = (f.syn_evidence - prior[3] * f.syn_tokens) / std::sqrt(f.syn_tokens + 1.0);
  // Chinese: the same share between two one-character words, which substitution (of
  // longer words) rarely touches: high in text unlike the reference (classical verse),
  // so the regression can discount x[6] and x[7] there.
  x[9] = tstat(f.char_pairs_single_unseen, f.char_pairs_single, prior[4]);
  // Chinese: the share of one-character words, which substitution (same length) leaves
  // unchanged -- high in classical text -- and its products with the two main evidence
  // features, so the regression can weigh the evidence differently by kind of text.
  x[10] = f.single_char_words;
  x[11] = f.single_char_words * x[3];
  x[12] = f.single_char_words * x[6];
  // English: the mixture log likelihood ratio per token (see fit()) as evidence against
  // its clean tuning mean; 0 for Chinese.
  x[13] = tstat(mix_sum / n, n, prior[5]);
}
double doc_z(const LangStats& st, const double* x) {
  double z = st.w[LangStats::kDoc];
  for (int k = 0; k < LangStats::kDoc; ++k) z += st.w[k] * (x[k] - st.mu[k]) / st.sd[k];
  return z;
}

// The cut on the share of one-character words that separates classical Chinese (the
// fortunes-zh tuning passages) from modern prose (the other sources' tuning passages):
// the cut that minimizes the balanced misclassification (the mean of the two groups'
// error rates; a text is called classical when its share >= cut). Candidates are the
// midpoints between adjacent distinct shares; ties go to the lowest. Tuning split only.
double classical_cut(std::vector<double> classical, std::vector<double> modern, double* err_c, double* err_m) {
  *err_c = 1;
  *err_m = 0;
  if (classical.empty() || modern.empty()) return 2;
  std::sort(classical.begin(), classical.end());
  std::sort(modern.begin(), modern.end());
  std::vector<double> all(classical);
  all.insert(all.end(), modern.begin(), modern.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  double best_cut = 2, best_err = 2;
  for (size_t i = 0; i + 1 < all.size(); ++i) {
    double cut = 0.5 * (all[i] + all[i + 1]);
    // classical below the cut and modern at or above it are misclassified
    double miss_c = (double)(std::lower_bound(classical.begin(), classical.end(), cut) - classical.begin()) / classical.size();
    double miss_m = (double)(modern.end() - std::lower_bound(modern.begin(), modern.end(), cut)) / modern.size();
    double err = 0.5 * (miss_c + miss_m);
    if (err < best_err) { best_err = err; best_cut = cut; *err_c = miss_c; *err_m = miss_m; }
  }
  return best_cut;
}

// The token cells' weights: initialised with the naive-Bayes log ratio (cells counted over
// clean tuning passages and over spun copies of them at substitution rates 0.15 / 0.3 /
// 0.45), then fit as a logistic regression on each document's cell histogram (Adam,
// L2), which discounts cells that only track the kind of text. The offset puts prob 0.5
// at the 99th percentile of the clean tuning scores (a 1% false-positive operating point
// on the tuning split; the held-out split is never looked at).
void fit(const Impl0& m, LangStats& st, Lang lang, const std::vector<Passage>& ps, uint64_t seed, size_t max_used) {
  std::vector<double> n_clean(kCells, 0), n_spun(kCells, 0), n_sub(kCells, 0);
  std::vector<Tok> tc_toks, ts_toks;
  std::vector<int> cells;
  std::vector<std::vector<std::pair<int, float>>> X;  // sparse cell fractions
  std::vector<int> y, row_src;
  std::vector<SpunFeatures> feats;
  SpunFeatures f;
  size_t used = 0;
  int cur_src = 0;
  auto add = [&](const std::vector<int>& cc, int label) {
    feats.push_back(f);
    row_src.push_back(cur_src);
    std::vector<std::pair<int, float>> row;
    std::vector<int> sorted = cc;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size();) {
      size_t j = i;
      while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
      row.emplace_back(sorted[i], (float)(j - i) / sorted.size());
      i = j;
    }
    X.push_back(std::move(row));
    y.push_back(label);
  };
  for (const Passage& p : ps) {
    if (p.split != 0) continue;
    if (++used > max_used) break;
    cur_src = p.src;
    token_cells(m, p.text, lang, f, cells);
    if (f.words < 20) continue;
    for (int c : cells) n_clean[c] += 1;
    add(cells, 0);
    double rate = 0.15 * (1 + used % 3);
    std::string spun = make_spun_copy(p.text, lang, rate, seed + used);
    token_cells(m, spun, lang, f, cells);
    for (int c : cells) n_spun[c] += 1;
    // English: the substituted tokens' cells (one word for one word, so the copy has the
    // same tokens but for the substituted ones, compared by index).
    if (lang == Lang::En) {
      tokens_en(p.text, tc_toks);
      tokens_en(spun, ts_toks);
      if (tc_toks.size() == ts_toks.size() && ts_toks.size() == cells.size())
        for (size_t k = 0; k < ts_toks.size(); ++k) n_sub[cells[k]] += ts_toks[k].h != tc_toks[k].h;
    }
    add(cells, 1);
  }
  check(X.size() >= 40, "spun model: too few tuning passages");
  // Row weights: every source counts the same in the fits (the largest source would
  // otherwise set the weights for all), mean weight 1.
  std::vector<double> rw(X.size());
  {
    std::map<int, size_t> per;
    for (int sidx : row_src) ++per[sidx];
    for (size_t r = 0; r < X.size(); ++r) rw[r] = (double)X.size() / (per.size() * per[row_src[r]]);
  }
  double tc = 0, ts = 0;
  for (int c = 0; c < kCells; ++c) { tc += n_clean[c]; ts += n_spun[c]; }
  for (int c = 0; c < kCells; ++c)
    st.llr[c] = std::log((n_spun[c] + 0.5) / (ts + 0.5 * kCells)) - std::log((n_clean[c] + 0.5) / (tc + 0.5 * kCells));
  // English mixture weights: a document whose tokens are substituted with probability rho
  // has per-token likelihood ratio 1 - rho + rho * P(c | substituted) / P(c | clean)
  // against clean text; P(c | substituted) counts the substituted tokens of the spun
  // copies (add-0.5 smoothing like llr). Its log is bounded below by log(1 - rho), so
  // many ordinary tokens cannot cancel a few strongly suspicious ones.
  double tsub = 0;
  for (int c = 0; c < kCells; ++c) tsub += n_sub[c];
  for (int c = 0; c < kCells; ++c) {
    double lr_sub = ((n_sub[c] + 0.5) / (tsub + 0.5 * kCells)) / ((n_clean[c] + 0.5) / (tc + 0.5 * kCells));
    st.mixw[c] = tsub > 0 ? std::log(1 - kMixRho + kMixRho * lr_sub) : 0;
  }
  // Logistic regression, full batch, Adam.
  std::vector<double> w(st.llr, st.llr + kCells), mo(kCells + 1, 0), ve(kCells + 1, 0), g(kCells + 1);
  double bias = 0;
  const double lr = 0.05, l2 = 1e-4, b1 = 0.9, b2 = 0.999;
  for (int it = 1; it <= 300; ++it) {
    std::fill(g.begin(), g.end(), 0.0);
    for (size_t r = 0; r < X.size(); ++r) {
      double z = bias;
      for (auto& [c, v] : X[r]) z += w[c] * v;
      double e = (1.0 / (1.0 + std::exp(-z)) - y[r]) * rw[r];
      for (auto& [c, v] : X[r]) g[c] += e * v;
      g[kCells] += e;
    }
    for (int c = 0; c <= kCells; ++c) {
      double gc = g[c] / X.size() + (c < kCells ? l2 * w[c] : 0);
      mo[c] = b1 * mo[c] + (1 - b1) * gc;
      ve[c] = b2 * ve[c] + (1 - b2) * gc * gc;
      double step = lr * (mo[c] / (1 - std::pow(b1, it))) / (std::sqrt(ve[c] / (1 - std::pow(b2, it))) + 1e-8);
      if (c < kCells) w[c] -= step;
      else bias -= step;
    }
  }
  std::copy(w.begin(), w.end(), st.llr);
  // Second stage: the document model over doc_features().
  constexpr int D = LangStats::kDoc;
  std::vector<std::array<double, D>> F(X.size());
  std::vector<double> css(X.size()), mix(X.size());
  double pn = 0, ev = 0, ev_n = 0;
  for (size_t r = 0; r < X.size(); ++r) {
    for (auto& [c, v] : X[r]) {
      css[r] += w[c] * v;
      mix[r] += st.mixw[c] * v * feats[r].words;
    }
    if (y[r]) continue;
    st.prior[0] += css[r];
    st.prior[1] += feats[r].char_pairs_unseen;
    st.prior[2] += feats[r].char_pairs_unseen_ref;
    st.prior[4] += feats[r].char_pairs_single_unseen;
    st.prior[5] += mix[r] / std::max(1, feats[r].words);
    ev += feats[r].syn_evidence;
    ev_n += feats[r].syn_tokens;
    pn += 1;
  }
  for (double& p : st.prior) p /= std::max(1.0, pn);
  st.prior[3] = ev / std::max(1.0, ev_n);
  for (size_t r = 0; r < X.size(); ++r) doc_features(st, feats[r], css[r], mix[r], F[r].data());
  for (int k = 0; k < D; ++k) {
    double a = 0, a2 = 0;
    for (auto& r : F) { a += r[k]; a2 += r[k] * r[k]; }
    st.mu[k] = a / F.size();
    st.sd[k] = std::sqrt(std::max(1e-12, a2 / F.size() - st.mu[k] * st.mu[k]));
  }
  std::fill(std::begin(st.w), std::end(st.w), 0.0);
  for (int it = 0; it < 500; ++it) {
    double gd[D + 1] = {};
    for (size_t r = 0; r < F.size(); ++r) {
      double e = (1.0 / (1.0 + std::exp(-doc_z(st, F[r].data()))) - y[r]) * rw[r];
      for (int k = 0; k < D; ++k) gd[k] += e * (F[r][k] - st.mu[k]) / st.sd[k];
      gd[D] += e;
    }
    for (int k = 0; k <= D; ++k) st.w[k] -= 0.5 * (gd[k] / F.size() + (k < D ? 1e-3 * st.w[k] : 0));
  }
  // Operating points: the 99th percentile of the clean tuning scores (1 % false positives
  // on the tuning split), separately for Chinese texts of mostly one-character words
  // (classical verse; see classical_cut()) and for all others, so neither kind sets the
  // other's threshold.
  // Percentiles weigh the sources equally (the row weights).
  if (lang == Lang::Zh) {
    std::vector<double> classical, modern;
    for (size_t r = 0; r < F.size(); ++r)
      if (!y[r]) (row_src[r] == 0 ? classical : modern).push_back(feats[r].single_char_words);
    double err_c, err_m;
    st.classical_cut = classical_cut(classical, modern, &err_c, &err_m);
    std::fprintf(stderr,
                 "spun: zh classical cut %.4f on the one-character-word share (tuning: %zu fortunes-zh passages, "
                 "%.1f %% below; %zu modern, %.1f %% at or above)\n",
                 st.classical_cut, classical.size(), 100 * err_c, modern.size(), 100 * err_m);
  }
  std::vector<std::pair<double, double>> z[2];
  for (size_t r = 0; r < F.size(); ++r)
    if (!y[r]) z[feats[r].single_char_words >= st.classical_cut].emplace_back(doc_z(st, F[r].data()), rw[r]);
  auto pct = [](std::vector<std::pair<double, double>>& v, double p) {
    std::sort(v.begin(), v.end());
    double total = 0, acc = 0;
    for (auto& e : v) total += e.second;
    for (auto& e : v)
      if ((acc += e.second) >= p * total) return e.first + 1e-9;
    return v.back().first + 1e-9;
  };
  st.offset = pct(z[0], 0.99);
  // The classical group is small (about 100 tuning texts): its 99th percentile is noisy,
  // so it takes the highest clean score.
  st.offset_classical = z[1].size() >= 50 ? pct(z[1], 1.0) : st.offset;
}

// ------------------------------------------------------------------ cache file
// Table and CountTable differ only in their key width (8 or 4 bytes a key).
template <class T>
void put_table(std::string& out, const T& t) {
  uint64_t n = t.keys.size(), used = t.used;
  out.append((const char*)&n, 8);
  out.append((const char*)&used, 8);
  out.append((const char*)t.keys.data(), n * sizeof(t.keys[0]));
  out.append((const char*)t.vals.data(), n * sizeof(t.vals[0]));
}
template <class T>
bool get_table(std::string_view& in, T& t) {
  if (in.size() < 16) return false;
  uint64_t n, used;
  std::memcpy(&n, in.data(), 8);
  std::memcpy(&used, in.data() + 8, 8);
  in.remove_prefix(16);
  const size_t key = sizeof(t.keys[0]), slot = key + sizeof(t.vals[0]);
  if (n == 0 || (n & (n - 1)) || in.size() / slot < n) return false;  // division: no overflow on a corrupt n
  t.keys.resize(n);
  t.vals.resize(n);
  std::memcpy(t.keys.data(), in.data(), n * key);
  std::memcpy(t.vals.data(), in.data() + n * key, n * sizeof(t.vals[0]));
  in.remove_prefix(n * slot);
  t.mask = n - 1;
  t.used = used;
  return true;
}
void put_stats(std::string& out, const LangStats& s) {
  put_table(out, s.uni);
  put_table(out, s.bi);
  out.append((const char*)&s.total, 8);
  out.append((const char*)s.llr, sizeof s.llr);
  out.append((const char*)s.mixw, sizeof s.mixw);
  out.append((const char*)s.mu, sizeof s.mu);
  out.append((const char*)s.sd, sizeof s.sd);
  out.append((const char*)s.w, sizeof s.w);
  out.append((const char*)&s.offset, 8);
  out.append((const char*)&s.offset_classical, 8);
  out.append((const char*)&s.classical_cut, 8);
  out.append((const char*)s.prior, sizeof s.prior);
}
bool get_stats(std::string_view& in, LangStats& s) {
  if (!get_table(in, s.uni) || !get_table(in, s.bi)) return false;
  size_t need = 32 + sizeof s.llr + sizeof s.mixw + sizeof s.mu + sizeof s.sd + sizeof s.w + sizeof s.prior;
  if (in.size() < need) return false;
  const char* q = in.data();
  std::memcpy(&s.total, q, 8); q += 8;
  std::memcpy(s.llr, q, sizeof s.llr); q += sizeof s.llr;
  std::memcpy(s.mixw, q, sizeof s.mixw); q += sizeof s.mixw;
  std::memcpy(s.mu, q, sizeof s.mu); q += sizeof s.mu;
  std::memcpy(s.sd, q, sizeof s.sd); q += sizeof s.sd;
  std::memcpy(s.w, q, sizeof s.w); q += sizeof s.w;
  std::memcpy(&s.offset, q, 8); q += 8;
  std::memcpy(&s.offset_classical, q, 8); q += 8;
  std::memcpy(&s.classical_cut, q, 8); q += 8;
  std::memcpy(s.prior, q, sizeof s.prior);
  in.remove_prefix(need);
  return true;
}

// Sizes of the sources: a changed package invalidates the cache.
uint64_t source_fingerprint() {
  uint64_t h = kVersion;
  for (const char* p : {"/usr/share/wordnet/data.noun", "/usr/share/wordnet/data.verb", "/usr/share/wordnet/data.adj",
                        "/usr/share/wordnet/data.adv", kJiebaDict, kFortunesZh, kGcide,
                        "/usr/share/games/fortunes/fortunes", "/usr/share/doc/debian-handbook/html/en-US/index.html",
                        "/usr/share/doc/debian-handbook/html/zh-CN/index.html", "/usr/share/debian-reference/index.zh-cn.html",
                        "/usr/share/doc/debian/FAQ/zh-cn/index.zh-cn.html",
                        "/usr/share/doc/maint-guide-zh-cn/html/index.zh-cn.html", "/usr/share/man/zh_CN/man1/ls.1.gz",
                        "/usr/share/doc/python3.11/html/index.html"}) {
    std::error_code ec;
    h = mix(h ^ (uint64_t)fs::file_size(p, ec));
  }
  return h;
}

}  // namespace

struct SpunModel::Impl : Impl0 {};

SpunModel::SpunModel() : impl_(std::make_unique<Impl>()) {}
SpunModel::~SpunModel() = default;

std::unique_ptr<SpunModel> SpunModel::build() {
  std::unique_ptr<SpunModel> m(new SpunModel());
  Impl& im = *m->impl_;
  load_zh_dict(im.dict, false);
  auto en = passages_en();
  auto zh = passages_zh();
  {
    Keys keys;
    for (const Passage& p : en)
      if (p.split < 0) count_text(nullptr, im.en, p.text, keys);
    im.en.bi.build(keys.pairs);
    for (const Passage& p : zh)
      if (p.split < 0) {
        count_text(&im.dict, im.zh, p.text, keys);
        count_zh_char_bigrams(im.zh_cref, p.text, 1);
      }
    im.zh.bi.build(keys.pairs);
  }
  {
    std::string text = read_file(kJiebaDict);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      std::string_view line(text.data() + pos, nl - pos);
      pos = nl + 1;
      size_t a = line.find(' ');
      if (a == std::string_view::npos) continue;
      uint32_t f = (uint32_t)std::strtoul(std::string(line.substr(a + 1, 12)).c_str(), nullptr, 10);
      if (f) count_zh_char_bigrams(im.zh_cdict, line.substr(0, a), std::min<uint32_t>(f, 1000000));
    }
  }
  {
    const SpinResources& r = spin_resources();
    // Each word's synonyms that the reference text has, most frequent first.
    std::vector<std::pair<uint32_t, uint64_t>> v;
    for (auto& [w, syns] : r.synonyms) {
      v.clear();
      for (auto& x : syns)
        if (uint32_t c = im.en.uni.get(hash_bytes(x))) v.emplace_back(c, hash_bytes(x));
      if (v.empty()) continue;
      std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
      im.syn_flat.push_back(v.size());
      im.syn_cnt.push_back(0);
      im.syn_index.add(hash_bytes(w), (uint32_t)im.syn_flat.size());
      for (auto& [c, h] : v) {
        im.syn_flat.push_back(h);
        im.syn_cnt.push_back(c);
      }
    }
  }
  std::fprintf(stderr, "spun: reference text: en %.0f tokens (%zu word pairs), zh %.0f words (%zu word pairs)\n",
               im.en.total, im.en.bi.used, im.zh.total, im.zh.bi.used);
  im.make_score_tables();
  fit(im, im.en, Lang::En, en, 1000, 12000);
  fit(im, im.zh, Lang::Zh, zh, 2000, 6000);
  return m;
}

const SpunModel& SpunModel::get(const SpunConfig& cfg) {
  thread_local const SpunModel* last = nullptr;  // per-thread memo: no lock per document
  thread_local std::string last_cfg_dir;
  if (last && last_cfg_dir == cfg.cache_dir) return *last;
  const SpunModel& m = get_locked(cfg);
  last_cfg_dir = cfg.cache_dir;
  last = &m;
  return m;
}

const SpunModel& SpunModel::get_locked(const SpunConfig& cfg) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<SpunModel>> models;
  std::string dir = cfg.cache_dir;
  if (dir.empty()) {
    if (const char* c = std::getenv("VERITAS_CACHE")) dir = c;
    else if (const char* h = std::getenv("HOME")) dir = std::string(h) + "/.cache/veritas";
    else dir = "/tmp/veritas-cache";
  }
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = models[dir];
  if (slot) return *slot;
  fs::path file = fs::path(dir) / "spun-model.bin";
  const uint64_t fp = source_fingerprint();
  std::error_code ec;
  if (fs::exists(file, ec)) {
    std::string bytes = read_file(file);
    std::string_view in = bytes;
    std::unique_ptr<SpunModel> m(new SpunModel());
    uint64_t magic = 0, got_fp = 0;
    bool ok = in.size() >= 16;
    if (ok) {
      std::memcpy(&magic, in.data(), 8);
      std::memcpy(&got_fp, in.data() + 8, 8);
      in.remove_prefix(16);
      ok = magic == 0x314E55505356ULL && got_fp == fp;  // "VSPUN1"
    }
    ok = ok && get_stats(in, m->impl_->en) && get_stats(in, m->impl_->zh) && get_table(in, m->impl_->dict.freq) &&
         get_table(in, m->impl_->dict.prefix) && get_table(in, m->impl_->syn_index) &&
         get_table(in, m->impl_->zh_cref) && get_table(in, m->impl_->zh_cdict) && in.size() >= 8;
    if (ok) {
      uint64_t n;
      std::memcpy(&n, in.data(), 8);
      in.remove_prefix(8);
      ok = in.size() == n * 12 + 16;
      if (ok) {
        m->impl_->syn_flat.resize(n);
        std::memcpy(m->impl_->syn_flat.data(), in.data(), n * 8);
        in.remove_prefix(n * 8);
        m->impl_->syn_cnt.resize(n);
        std::memcpy(m->impl_->syn_cnt.data(), in.data(), n * 4);
        in.remove_prefix(n * 4);
      }
    }
    if (ok) {
      std::memcpy(&m->impl_->dict.log_total, in.data(), 8);
      int64_t mc;
      std::memcpy(&mc, in.data() + 8, 8);
      m->impl_->dict.max_chars = (int)mc;
      std::string().swap(bytes);  // lower peak memory: the file copy is no longer needed
      m->impl_->make_score_tables();
      m->impl_->drop_source_tables();
      slot = std::move(m);
      return *slot;
    }
    // A stale or damaged cache is rebuilt, not trusted.
  }
  std::fprintf(stderr, "spun: building reference statistics from Debian packages into %s ...\n", file.c_str());
  Timer t;
  slot = build();
  std::string out;
  uint64_t magic = 0x314E55505356ULL;
  out.append((const char*)&magic, 8);
  out.append((const char*)&fp, 8);
  put_stats(out, slot->impl_->en);
  put_stats(out, slot->impl_->zh);
  put_table(out, slot->impl_->dict.freq);
  put_table(out, slot->impl_->dict.prefix);
  put_table(out, slot->impl_->syn_index);
  put_table(out, slot->impl_->zh_cref);
  put_table(out, slot->impl_->zh_cdict);
  {
    uint64_t n = slot->impl_->syn_flat.size();
    out.append((const char*)&n, 8);
    out.append((const char*)slot->impl_->syn_flat.data(), n * 8);
    out.append((const char*)slot->impl_->syn_cnt.data(), n * 4);
  }
  out.append((const char*)&slot->impl_->dict.log_total, 8);
  int64_t mc = slot->impl_->dict.max_chars;
  out.append((const char*)&mc, 8);
  fs::create_directories(dir, ec);
  try {
    atomic_write_file(file, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spun: cannot cache the model (%s); continuing without a cache\n", e.what());
  }
  slot->impl_->drop_source_tables();
  std::fprintf(stderr, "spun: done in %.1f s\n", t.seconds());
  return *slot;
}

SpunFeatures SpunModel::score(std::string_view text, Lang lang) const {
  SpunFeatures f;
  thread_local std::vector<int> cells;
  token_cells(*impl_, text, lang, f, cells);
  const LangStats& st = lang == Lang::Zh ? impl_->zh : impl_->en;
  double x[LangStats::kDoc];
  double mix_sum;
  double cs = doc_llr(st, cells, &mix_sum);
  doc_features(st, f, cs, mix_sum, x);
  f.llr = doc_z(st, x);
  double off = f.single_char_words >= st.classical_cut ? st.offset_classical : st.offset;
  f.prob = 1.0 / (1.0 + std::exp(-(f.llr - off)));
  return f;
}

SpunConfig SpunConfig::from_json(const nlohmann::json& j) {
  SpunConfig c;
  c.enabled = get_or(j, "enabled", c.enabled);
  c.cache_dir = get_or<std::string>(j, "cache_dir", c.cache_dir);
  c.threshold = get_or(j, "threshold", c.threshold);
  c.min_words = get_or(j, "min_words", c.min_words);
  c.lexicon_hits_drop = get_or(j, "lexicon_hits_drop", c.lexicon_hits_drop);
  return c;
}

Decision check_spun(Document& doc, const SpunConfig& cfg) {
  if (!cfg.enabled) return Decision::ok();
  const SpunModel& m = SpunModel::get(cfg);
  // Text in neither language is scored with the English model only when it is mostly ASCII.
  Lang lang = doc.lang == Lang::Zh ? Lang::Zh : Lang::En;
  SpunFeatures f = m.score(doc.text, lang);
  if (f.lexicon_hits >= cfg.lexicon_hits_drop)
    return Decision::drop("spun.tortured_phrases", "distinct_tortured_phrases=" + std::to_string(f.lexicon_hits) +
                                                       " >= " + std::to_string(cfg.lexicon_hits_drop));
  if (f.words < cfg.min_words) return Decision::ok();
  doc.scores.emplace_back("spun.prob", f.prob);
  if (f.prob > cfg.threshold) {
    char b[200];
    std::snprintf(b, sizeof b,
                  "p_spun=%.3f > %.3g (suspicious_words=%d unseen_pairs=%.3f rare_words=%.3f words=%d)", f.prob,
                  cfg.threshold, f.suspicious, f.unseen_bigrams, f.rare_words, f.words);
    return Decision::drop("spun.statistical", b);
  }
  return Decision::ok();
}

namespace {
const std::vector<Source>& eval_sources(Lang lang, bool original_only = false) {
  static std::mutex mu;
  static std::map<int, std::vector<Source>> memo;
  std::lock_guard<std::mutex> lock(mu);
  int key = (lang == Lang::Zh ? 1 : 0) + (original_only ? 2 : 0);
  auto it = memo.find(key);
  if (it == memo.end()) it = memo.emplace(key, sources(lang == Lang::Zh ? Lang::Zh : Lang::En, original_only)).first;
  return it->second;
}
}  // namespace

std::vector<std::string> spun_eval_passages(Lang lang, int split, int max_passages) {
  std::vector<const Passage*> sel;
  for (auto& s : eval_sources(lang, true))
    for (const Passage& p : s.passages)
      if (p.split == split) sel.push_back(&p);
  std::vector<std::string> out;
  size_t step = std::max<size_t>(1, sel.size() / std::max(1, max_passages));
  for (size_t k = 0; k < sel.size() && (int)out.size() < max_passages; k += step) out.push_back(sel[k]->text);
  return out;
}

std::vector<std::string> spun_eval_source_names(Lang lang) {
  std::vector<std::string> v;
  for (auto& s : eval_sources(lang)) v.push_back(s.name);
  return v;
}

std::vector<std::string> spun_eval_passages_all(Lang lang, int split, int max_passages, const std::string& source) {
  const auto& src = eval_sources(lang);
  // Each source's passages of the split, then quotas: an even share per source, what a
  // small source cannot fill going to the others; each source subsampled evenly.
  std::vector<std::vector<const Passage*>> sel;
  for (auto& s : src) {
    if (!source.empty() && s.name != source) continue;
    sel.emplace_back();
    for (const Passage& p : s.passages)
      if (p.split == split) sel.back().push_back(&p);
  }
  std::vector<size_t> quota(sel.size(), 0);
  size_t left = (size_t)std::max(0, max_passages);
  while (left > 0) {
    size_t open = 0;
    for (size_t i = 0; i < sel.size(); ++i) open += quota[i] < sel[i].size();
    if (!open) break;
    size_t share = std::max<size_t>(1, left / open);
    for (size_t i = 0; i < sel.size() && left > 0; ++i) {
      size_t add = std::min({share, sel[i].size() - quota[i], left});
      quota[i] += add;
      left -= add;
    }
  }
  std::vector<std::vector<std::string>> per(sel.size());
  for (size_t i = 0; i < sel.size(); ++i)
    for (size_t q = 0; q < quota[i]; ++q) per[i].push_back(sel[i][q * sel[i].size() / quota[i]]->text);
  std::vector<std::string> out;
  for (size_t k = 0;; ++k) {
    bool any = false;
    for (auto& v : per)
      if (k < v.size()) { out.push_back(v[k]); any = true; }
    if (!any) break;
  }
  return out;
}

std::string make_spun_copy(std::string_view clean, Lang lang, double rate, uint64_t seed) {
  const SpinResources& r = spin_resources();
  Rng rng(seed);
  std::string out;
  out.reserve(clean.size() + 16);
  if (lang != Lang::Zh) {
    size_t i = 0;
    while (i < clean.size()) {
      if (!is_ascii_alpha(clean[i])) { out += clean[i++]; continue; }
      size_t st = i;
      while (i < clean.size() && is_ascii_alpha(clean[i])) ++i;
      std::string w(clean.substr(st, i - st)), lw = w;
      for (char& c : lw) c |= 0x20;
      auto it = r.synonyms.find(lw);
      if (lw.size() >= 3 && !is_stop_en(lw) && it != r.synonyms.end() && rng.uniform() < rate) {
        std::string s = it->second[rng.below(it->second.size())];
        if (w[0] >= 'A' && w[0] <= 'Z') s[0] = (char)(s[0] - 32);
        out += s;
      } else {
        out += w;
      }
    }
    return out;
  }
  // Chinese: segment with the dictionary; replace content words by a random dictionary
  // word of the same part of speech and length (what crude 伪原创 tools do).
  static const char* const content_pos[] = {"n", "v", "a", "vn", "ad", "an", "d", "nz", "vd", "i", "l"};
  std::vector<Seg> segs;
  size_t i = 0;
  while (i < clean.size()) {
    size_t st = i;
    uint32_t c = utf8_next(clean, i);
    if (!is_han(c)) { out.append(clean.substr(st, i - st)); continue; }
    size_t end = i;
    while (end < clean.size()) {
      size_t j = end;
      if (!is_han(utf8_next(clean, j))) break;
      end = j;
    }
    std::string_view run = clean.substr(st, end - st);
    segs.clear();
    segment_run(r.zh, run, segs);
    for (const Seg& g : segs) {
      std::string w(run.substr(g.begin, g.end - g.begin));
      int chars = (int)w.size() / 3;
      auto pit = r.zh.pos_of.find(w);
      bool done = false;
      if (chars >= 2 && pit != r.zh.pos_of.end() && rng.uniform() < rate) {
        bool content = false;
        for (const char* p : content_pos) content |= pit->second == p;
        auto bit = r.zh.by_pos.find({pit->second, chars});
        if (content && bit != r.zh.by_pos.end() && bit->second.size() >= 20) {
          out += bit->second[rng.below(bit->second.size())];
          done = true;
        }
      }
      if (!done) out += w;
    }
    i = end;
  }
  return out;
}

}  // namespace veritas
