#pragma once
// veritas curate synth: a realistic mixed corpus with known labels, built at run time
// from real text shipped in Debian packages (nothing of it is committed):
//   English  KJV Bible (`bible` from bible-kjv), WordNet glosses (wordnet-base)
//   Chinese  fortunes-zh (/usr/share/games/fortunes/{chinese,tang300,song100}.u8)
//   other    coreutils message translations (de, fr, es, ru, ja .mo files)
// Labels: clean, exact_dup, near_dup, private, optout, other_lang, spam, spun, pii,
// pii_heavy, low_quality, malformed. Each document carries its label in a `label`
// field; FILE.labels.tsv lists every line (malformed lines cannot carry their own) and
// FILE.optout.txt the opt-out list the optout documents match.
// The spinner uses its own substitution lexicon (WordNet synonyms of any sense for
// English, same part-of-speech words from python3-jieba's dictionary for Chinese),
// independent of the spun-text filter.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "veritas/data/document.hpp"
#include "veritas/data/text_sources.hpp"

namespace veritas {

struct SynthOptions {
  std::string output;
  int64_t docs = 1000;
  uint64_t seed = 1;
  std::string bible = "bible";  // the bible-kjv command
  std::string wordnet_dir = sources::kWordnetDir;
  std::string fortunes_dir = sources::kFortunesDir;
  std::string jieba_dict = sources::kJiebaDict;
  std::string locale_dir = "/usr/share/locale";
  bool write_sidecars = true;
  bool quiet = false;
};

struct SynthSummary {
  std::map<std::string, int64_t> labels;
  uint64_t bytes = 0;
};

SynthSummary synth_corpus(const SynthOptions& opt);

// Exposed for tests: the share of shared shingles of two texts (word 5-grams).
double word_shingle_jaccard(const std::string& a, const std::string& b, int n = 5);

// The spun-text filter's spinner (synth_spin.cpp; its tuning, tests and benchmark use it,
// curate synth has its own above): a copy of clean text with `rate` of the replaceable
// words replaced by WordNet synonyms (English) or same-part-of-speech, same-length jieba
// words (Chinese). Deterministic in seed.
std::string make_spun_copy(std::string_view clean, Lang lang, double rate, uint64_t seed);

}  // namespace veritas
