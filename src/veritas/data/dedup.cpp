#include "veritas/data/dedup.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "veritas/util/config.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/rng.hpp"

namespace veritas {

DedupConfig DedupConfig::from_json(const nlohmann::json& j) {
  DedupConfig c;
  c.exact = get_or(j, "exact", c.exact);
  c.near = get_or(j, "near", c.near);
  c.bands = get_or(j, "bands", c.bands);
  c.rows = get_or(j, "rows", c.rows);
  c.word_ngram = get_or(j, "word_ngram", c.word_ngram);
  c.char_ngram = get_or(j, "char_ngram", c.char_ngram);
  c.seed = get_or<uint64_t>(j, "seed", c.seed);
  check(c.bands >= 1 && c.bands <= 64 && c.rows >= 1 && c.rows <= 32,
        "dedup: bands must be 1..64 and rows 1..32");
  check(c.word_ngram >= 1 && c.word_ngram <= 16 && c.char_ngram >= 1 && c.char_ngram <= 16,
        "dedup: word_ngram and char_ngram must be 1..16");
  return c;
}

double DedupConfig::match_probability(double s) const {
  return 1.0 - std::pow(1.0 - std::pow(s, rows), bands);
}

MinHasher::MinHasher(const DedupConfig& cfg) : cfg_(cfg) {
  Rng rng(cfg.seed * 0x9E3779B97F4A7C15ULL + 12345);
  int k = cfg.bands * cfg.rows;
  a_.resize(k);
  b_.resize(k);
  for (int i = 0; i < k; ++i) {
    a_[i] = rng.next() | 1;  // multiply-shift hashing (Dietzfelbinger): odd multiplier
    b_[i] = rng.next();
  }
  // Groups of 8 permutations in the layout of the AVX2 kernel (see minhash_of); the
  // padding lanes of the last group are computed and then dropped.
  groups_.resize(((size_t)k + 7) / 8);
  for (int i = 0; i < k; ++i) {
    PermGroup& g = groups_[i / 8];
    int lane = i % 8;
    (lane % 2 ? g.a_odd : g.a_even)[lane / 2] = a_[i];
    (lane % 2 ? g.b_odd : g.b_even)[lane / 2] = b_[i];
    g.a_high[lane] = (uint32_t)(a_[i] >> 32);
  }
}

namespace {

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
inline uint32_t finish(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return (uint32_t)h;
}
inline bool ascii_word_char(unsigned char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}
// Punctuation and spaces outside ASCII that must not take part in character shingles.
inline bool cjk_skip(uint32_t cp) {
  return (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
         (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) || cp == 0xB7;
}

// The last k unit hashes, oldest first. Stored twice (at j and j + k) so the window is
// always contiguous: no modulo per unit.
class Window {
 public:
  explicit Window(int k) : k_(k) {}
  // Adds a unit; true when the window is full.
  bool push(uint64_t h) {
    ring_[pos_] = ring_[pos_ + k_] = h;
    if (++pos_ == k_) pos_ = 0;
    return ++count_ >= k_;
  }
  bool partial() const { return count_ > 0 && count_ < k_; }
  // Shingle hash of the window (or of the units so far when fewer than k).
  uint64_t hash() const {
    const uint64_t* w = count_ >= k_ ? ring_ + pos_ : ring_;
    long m = count_ >= k_ ? k_ : count_;
    uint64_t h = 0;
    for (long t = 0; t < m; ++t) h = rotl(h, 11) ^ w[t];
    return h;
  }

 private:
  int k_, pos_ = 0;
  long count_ = 0;
  uint64_t ring_[32] = {};
};

}  // namespace

void MinHasher::shingles(std::string_view text, Lang lang, std::vector<uint32_t>& out) const {
  out.clear();
  const auto* p = (const unsigned char*)text.data();
  size_t n = text.size();
  if (lang == Lang::Zh) {
    // Character n-grams over letters and digits (punctuation and spaces skipped, so an
    // edit of punctuation does not change the shingles).
    int k = cfg_.char_ngram;
    Window win(k);
    for (size_t i = 0; i < n;) {
      unsigned char c = p[i];
      uint32_t cp;
      if (c < 0x80) {
        ++i;
        if (!ascii_word_char(c)) continue;
        cp = (uint32_t)(c | ((c >= 'A' && c <= 'Z') ? 0x20 : 0));
      } else {
        int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        cp = c & (len == 4 ? 0x07 : len == 3 ? 0x0F : 0x1F);
        for (int t = 1; t < len && i + t < n; ++t) cp = (cp << 6) | (p[i + t] & 0x3F);
        i += (size_t)len;
        if (cjk_skip(cp)) continue;
      }
      if (win.push(cp * 0x9E3779B97F4A7C15ULL)) out.push_back(finish(win.hash()));
    }
    if (win.partial()) out.push_back(finish(win.hash()));
    return;
  }
  // Word n-grams: words are runs of ASCII letters/digits (case-folded) and non-ASCII bytes.
  Window win(cfg_.word_ngram);
  char word[64];
  for (size_t i = 0; i < n;) {
    while (i < n && p[i] < 0x80 && !ascii_word_char(p[i])) ++i;
    if (i >= n) break;
    size_t len = 0;
    size_t start = i;
    while (i < n && (p[i] >= 0x80 || ascii_word_char(p[i]))) {
      if (len < sizeof word) word[len++] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] | 0x20 : p[i]);
      ++i;
    }
    uint64_t h = XXH3_64bits(word, len) ^ (i - start > sizeof word ? XXH3_64bits(p + start, i - start) : 0);
    if (win.push(h)) out.push_back(finish(win.hash()));
  }
  if (win.partial()) out.push_back(finish(win.hash()));
}

void MinHasher::minhash_of(const uint32_t* sh, size_t n, uint32_t* sig) const {
  const size_t k = a_.size();
#if defined(__AVX2__)
  // Permutation i of a 32-bit shingle x is the high half of a_i*x + b_i (mod 2^64). As
  // x < 2^32, that is hi32(lo32(a_i)*x + b_i) + hi32(a_i)*x (mod 2^32): two 32x32->64
  // multiplies and a 32-bit one, which AVX2 has (it has no 64-bit multiply). Eight
  // permutations per register; the shingles are the inner loop so the group's
  // constants stay in registers.
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const PermGroup& g = groups_[gi];
    const __m256i ae = _mm256_loadu_si256((const __m256i*)g.a_even), ao = _mm256_loadu_si256((const __m256i*)g.a_odd);
    const __m256i be = _mm256_loadu_si256((const __m256i*)g.b_even), bo = _mm256_loadu_si256((const __m256i*)g.b_odd);
    const __m256i ah = _mm256_loadu_si256((const __m256i*)g.a_high);
    auto perm = [&](uint32_t x) {
      __m256i xv = _mm256_set1_epi32((int)x);
      __m256i qe = _mm256_add_epi64(_mm256_mul_epu32(ae, xv), be);  // lanes 0, 2, 4, 6
      __m256i qo = _mm256_add_epi64(_mm256_mul_epu32(ao, xv), bo);  // lanes 1, 3, 5, 7
      __m256i hi = _mm256_blend_epi32(_mm256_srli_epi64(qe, 32), qo, 0xAA);
      return _mm256_add_epi32(hi, _mm256_mullo_epi32(ah, xv));
    };
    __m256i m0 = _mm256_set1_epi32(-1), m1 = m0;
    size_t j = 0;
    for (; j + 2 <= n; j += 2) {
      m0 = _mm256_min_epu32(m0, perm(sh[j]));
      m1 = _mm256_min_epu32(m1, perm(sh[j + 1]));
    }
    if (j < n) m0 = _mm256_min_epu32(m0, perm(sh[j]));
    alignas(32) uint32_t out[8];
    _mm256_store_si256((__m256i*)out, _mm256_min_epu32(m0, m1));
    for (size_t l = 0; l < 8 && gi * 8 + l < k; ++l) sig[gi * 8 + l] = out[l];
  }
#else
  for (size_t i = 0; i < k; ++i) sig[i] = 0xFFFFFFFFu;
  for (size_t j = 0; j < n; ++j) {
    uint64_t xv = sh[j];
    for (size_t i = 0; i < k; ++i) {
      uint32_t v = (uint32_t)((a_[i] * xv + b_[i]) >> 32);
      sig[i] = v < sig[i] ? v : sig[i];
    }
  }
#endif
}

bool MinHasher::minhash(std::string_view text, Lang lang, std::vector<uint32_t>& sig) const {
  thread_local std::vector<uint32_t> sh;
  shingles(text, lang, sh);
  sig.assign(a_.size(), 0xFFFFFFFFu);
  if (sh.empty()) return false;
  // Duplicate shingles do not change a minimum, but removing them (sorting) costs more
  // than the kernel spends on them.
  minhash_of(sh.data(), sh.size(), sig.data());
  return true;
}

DocSignature MinHasher::signature(std::string_view text, Lang lang) const {
  DocSignature d;
  d.exact = XXH3_64bits(text.data(), text.size());
  if (!cfg_.near) return d;
  thread_local std::vector<uint32_t> sig;
  if (!minhash(text, lang, sig)) return d;
  d.bands.resize(cfg_.bands);
  for (int b = 0; b < cfg_.bands; ++b)
    d.bands[b] = XXH3_64bits_withSeed(sig.data() + (size_t)b * cfg_.rows, (size_t)cfg_.rows * 4, (uint64_t)b + 1);
  return d;
}

// ---- FlatMap64 ----

uint32_t FlatMap64::find_or_insert(uint64_t key, uint32_t value, bool* inserted) {
  if ((size_ + 1) * 10 > keys_.size() * 7) grow();
  size_t mask = keys_.size() - 1;
  size_t i = (size_t)(key * 0x9E3779B97F4A7C15ULL >> 20) & mask;
  while (used_[i]) {
    if (keys_[i] == key) {
      *inserted = false;
      return vals_[i];
    }
    i = (i + 1) & mask;
  }
  used_[i] = 1;
  keys_[i] = key;
  vals_[i] = value;
  ++size_;
  *inserted = true;
  return value;
}

const uint32_t* FlatMap64::find(uint64_t key) const {
  if (keys_.empty()) return nullptr;
  size_t mask = keys_.size() - 1;
  size_t i = (size_t)(key * 0x9E3779B97F4A7C15ULL >> 20) & mask;
  while (used_[i]) {
    if (keys_[i] == key) return &vals_[i];
    i = (i + 1) & mask;
  }
  return nullptr;
}

void FlatMap64::grow() {
  size_t cap = keys_.empty() ? 1024 : keys_.size() * 2;
  std::vector<uint64_t> ok = std::move(keys_);
  std::vector<uint32_t> ov = std::move(vals_);
  std::vector<uint8_t> ou = std::move(used_);
  keys_.assign(cap, 0);
  vals_.assign(cap, 0);
  used_.assign(cap, 0);
  size_ = 0;
  bool ins;
  for (size_t i = 0; i < ok.size(); ++i)
    if (ou[i]) find_or_insert(ok[i], ov[i], &ins);
}

// ---- DedupIndex ----

std::string DedupIndex::root_id(uint32_t r) const {
  size_t b = id_off_[r], e = r + 1 < id_off_.size() ? id_off_[r + 1] : ids_.size();
  return ids_.substr(b, e - b);
}

DedupIndex::Result DedupIndex::add(std::string_view id, const DocSignature& sig) {
  ++docs_;
  Result res;
  if (cfg_.exact) {
    if (const uint32_t* r = exact_.find(sig.exact)) {
      res.kind = Result::Exact;
      res.root_id = root_id(*r);
      ++cluster_[*r];
      return res;  // an identical text's bands are already indexed
    }
  }
  // The first band already seen puts the document in that band's cluster.
  uint32_t root = 0;
  int hit = -1;
  if (cfg_.near) {
    for (size_t b = 0; b < sig.bands.size(); ++b)
      if (const uint32_t* v = bands_.find(sig.bands[b])) {
        hit = (int)b;
        root = *v;
        break;
      }
  }
  if (hit < 0) {
    root = (uint32_t)id_off_.size();
    id_off_.push_back(ids_.size());
    ids_.append(id);
    cluster_.push_back(1);
  } else {
    res.kind = Result::Near;
    res.band = hit;
    res.root_id = root_id(root);
    ++cluster_[root];
  }
  bool ins;
  if (cfg_.exact) exact_.find_or_insert(sig.exact, root, &ins);
  // Index every band of this document (monotone rule: duplicates match later ones too).
  for (uint64_t key : sig.bands) bands_.find_or_insert(key, root, &ins);
  return res;
}

std::map<uint64_t, uint64_t> DedupIndex::cluster_histogram() const {
  std::map<uint64_t, uint64_t> h;
  for (uint32_t c : cluster_)
    if (c >= 2) ++h[c];
  return h;
}

size_t DedupIndex::state_bytes() const {
  return exact_.bytes() + bands_.bytes() + ids_.capacity() + id_off_.capacity() * 8 + cluster_.capacity() * 4;
}

// ---- signature files ----

namespace {
constexpr char kSigMagic[8] = {'V', 'R', 'T', 'S', 'I', 'G', '0', '1'};
}

SignatureWriter::SignatureWriter(std::FILE* f, const DedupConfig& cfg) : f_(f) {
  nlohmann::json h = {{"bands", cfg.bands}, {"rows", cfg.rows}, {"word_ngram", cfg.word_ngram},
                      {"char_ngram", cfg.char_ngram}, {"seed", cfg.seed}, {"exact", cfg.exact},
                      {"near", cfg.near}};
  std::string hs = h.dump();
  uint32_t len = (uint32_t)hs.size();
  std::fwrite(kSigMagic, 1, 8, f_);
  std::fwrite(&len, 4, 1, f_);
  std::fwrite(hs.data(), 1, hs.size(), f_);
}

void SignatureWriter::add(const SignatureRecord& r) {
  uint32_t idlen = (uint32_t)r.id.size();
  uint16_t nb = (uint16_t)r.sig.bands.size();
  std::fwrite(&r.order, 8, 1, f_);
  std::fwrite(&r.sig.exact, 8, 1, f_);
  std::fwrite(&idlen, 4, 1, f_);
  std::fwrite(&nb, 2, 1, f_);
  std::fwrite(r.id.data(), 1, idlen, f_);
  if (nb) std::fwrite(r.sig.bands.data(), 8, nb, f_);
}

SignatureReader::SignatureReader(const std::string& path) : path_(path) {
  f_ = std::fopen(path.c_str(), "rb");
  if (!f_) throw Error("cannot open " + path + ": " + std::strerror(errno));
  char magic[8];
  read_exact(magic, 8);
  check(std::memcmp(magic, kSigMagic, 8) == 0, path + ": not a signature file (bad magic at offset 0)");
  uint32_t len;
  read_exact(&len, 4);
  check(len < (1u << 20), path + ": corrupt header length at offset 8");
  std::string hs(len, '\0');
  read_exact(hs.data(), len);
  auto h = nlohmann::json::parse(hs, nullptr, false);
  check(!h.is_discarded(), path + ": corrupt header at offset 12");
  cfg_ = DedupConfig::from_json(h);
}

SignatureReader::~SignatureReader() {
  if (f_) std::fclose(f_);
}

void SignatureReader::read_exact(void* p, size_t n) {
  size_t got = std::fread(p, 1, n, f_);
  if (got != n) throw Error(path_ + ": truncated signature file at offset " + std::to_string(offset_ + got));
  offset_ += n;
}

bool SignatureReader::next(SignatureRecord& r) {
  int c = std::fgetc(f_);
  if (c == EOF) return false;
  std::ungetc(c, f_);
  read_exact(&r.order, 8);
  read_exact(&r.sig.exact, 8);
  uint32_t idlen;
  uint16_t nb;
  read_exact(&idlen, 4);
  read_exact(&nb, 2);
  check(idlen < (1u << 24) && nb <= 64, path_ + ": corrupt record at offset " + std::to_string(offset_ - 14));
  r.id.resize(idlen);
  read_exact(r.id.data(), idlen);
  r.sig.bands.resize(nb);
  if (nb) read_exact(r.sig.bands.data(), (size_t)nb * 8);
  return true;
}

}  // namespace veritas
