#pragma once
// Deduplication (curation stage 5).
// Exact: XXH3-64 of the normalized text. Near: MinHash over shingles (word n-grams for
// English and other Latin-script text, character n-grams for Chinese) split into
// `bands` bands of `rows` minima; two documents are near duplicates when any band is
// equal, which happens with probability P(s) = 1 - (1 - s^rows)^bands for Jaccard
// similarity s (table in docs/curation.md).
// Greedy and deterministic: documents are added in input order and a document is a
// duplicate when it matches ANY earlier document (kept or itself a duplicate). Matching
// earlier duplicates too makes the rule monotone: a duplicate found among a subset of
// the corpus is also one in the whole corpus, which is what lets per-task runs be
// merged (curate dedup) into exactly the single-run result.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/data/document.hpp"

namespace veritas {

struct DedupConfig {
  bool exact = true, near = true;
  int bands = 14, rows = 8;       // FineWeb's 14 x 8 = 112 hashes
  int word_ngram = 5, char_ngram = 5;
  uint64_t seed = 1;
  static DedupConfig from_json(const nlohmann::json& j);
  double match_probability(double jaccard) const;
};

// What the dedup stage needs to know of a document; computed in parallel.
struct DocSignature {
  uint64_t exact = 0;
  std::vector<uint64_t> bands;  // empty: no shingles (near dedup skipped)
};

class MinHasher {
 public:
  explicit MinHasher(const DedupConfig& cfg);
  // Shingle hashes (32-bit) of a normalized text.
  void shingles(std::string_view text, Lang lang, std::vector<uint32_t>& out) const;
  // bands*rows minima; false when the text has no shingles.
  bool minhash(std::string_view text, Lang lang, std::vector<uint32_t>& sig) const;
  DocSignature signature(std::string_view text, Lang lang) const;
  const DedupConfig& config() const { return cfg_; }
  // sig[i] = min over the n shingles x of permutation i: (a_i * x + b_i) >> 32 (mod 2^64).
  void minhash_of(const uint32_t* sh, size_t n, uint32_t* sig) const;
  // Multiplier and offset of permutation i (for the tests' reference).
  std::pair<uint64_t, uint64_t> permutation(size_t i) const { return {a_[i], b_[i]}; }

 private:
  DedupConfig cfg_;
  std::vector<uint64_t> a_, b_;
  // The same permutations, 8 at a time, split for 32x32->64 multiplies (even and odd
  // lanes) and the high halves of the multipliers.
  struct PermGroup {
    uint64_t a_even[4] = {}, a_odd[4] = {}, b_even[4] = {}, b_odd[4] = {};
    uint32_t a_high[8] = {};
  };
  std::vector<PermGroup> groups_;
};

// Open-addressing map from 64-bit keys to 32-bit values (dedup state: ~12 bytes/slot).
class FlatMap64 {
 public:
  // Returns the value for key, inserting `value` when absent (inserted = true).
  uint32_t find_or_insert(uint64_t key, uint32_t value, bool* inserted);
  const uint32_t* find(uint64_t key) const;
  size_t size() const { return size_; }
  size_t bytes() const { return keys_.capacity() * 8 + vals_.capacity() * 4 + used_.capacity(); }

 private:
  void grow();
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> vals_;
  std::vector<uint8_t> used_;
  size_t size_ = 0;
};

class DedupIndex {
 public:
  explicit DedupIndex(const DedupConfig& cfg) : cfg_(cfg) {}
  struct Result {
    enum Kind { Unique, Exact, Near } kind = Unique;
    std::string root_id;  // the surviving first document of the cluster
    int band = -1;        // matching band (near)
  };
  Result add(std::string_view id, const DocSignature& sig);
  // Cluster size (survivor + its duplicates) -> number of clusters, sizes >= 2 only.
  std::map<uint64_t, uint64_t> cluster_histogram() const;
  size_t state_bytes() const;
  uint64_t documents() const { return docs_; }

 private:
  DedupConfig cfg_;
  FlatMap64 exact_, bands_;
  std::string ids_;                  // ids of survivors, back to back
  std::vector<uint64_t> id_off_;     // start of each survivor's id in ids_
  std::vector<uint32_t> cluster_;    // cluster size per survivor
  uint64_t docs_ = 0;
  std::string root_id(uint32_t r) const;
};

// Per-task signature files for `curate dedup`: every document that reached the dedup
// stage, in input order (order key = file index << 40 | line number), so task files
// merge by order key without loading them whole.
struct SignatureRecord {
  uint64_t order = 0;
  std::string id;
  DocSignature sig;
};
class SignatureWriter {
 public:
  SignatureWriter(std::FILE* f, const DedupConfig& cfg);
  void add(const SignatureRecord& r);

 private:
  std::FILE* f_;
};
class SignatureReader {
 public:
  explicit SignatureReader(const std::string& path);
  ~SignatureReader();
  bool next(SignatureRecord& r);  // throws Error on a truncated/corrupt file
  const DedupConfig& config() const { return cfg_; }

 private:
  std::string path_;
  std::FILE* f_;
  DedupConfig cfg_;
  uint64_t offset_ = 0;
  void read_exact(void* p, size_t n);
};

}  // namespace veritas
