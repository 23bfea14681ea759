#pragma once
// Machine-spun text (curation stage 8): 伪原创 / "tortured phrases". Words replaced by
// ill-fitting synonyms make word pairs that clean text does not contain and pull in
// rare words. The score combines (a) word unigram and bigram statistics of clean text
// built from Debian packages (English: KJV via `bible`, WordNet glosses, GCIDE, English
// fortunes, the Debian handbook, the Python documentation; Chinese: python3-jieba's
// dict.txt word frequencies, with max-probability segmentation, and the text of
// fortunes-zh, the Debian handbook, reference, FAQ, maintainers' guide and the zh_CN
// man pages, plus Han character-pair counts from that text and from the dictionary
// words) with (b) a lexicon of known tortured phrases. The statistics are built at
// first use and cached (cache_dir). A token model (each token's frequency bucket,
// whether its left/right word pairs occur in clean text, and how much better a WordNet
// synonym fits its neighbours) and a document model over it are fit on a tuning split
// of clean/spun pairs made by make_spun_copy (synth.hpp), never on the held-out split used for
// evaluation. See docs/curation-filters.md.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/data/document.hpp"
#include "veritas/data/synth.hpp"

namespace veritas {

struct SpunConfig {
  bool enabled = true;
  std::string cache_dir;     // "" = $VERITAS_CACHE or ~/.cache/veritas
  double threshold = 0.5;    // drop when the spun probability exceeds this
  int min_words = 20;        // shorter texts are not scored (too little evidence)
  int lexicon_hits_drop = 2; // this many distinct tortured phrases drop on their own
  // Language-model evidence (curate_lm/, above infer/; data/ only carries the settings):
  // "" = none, "auto" = the installed model (SmolLM2 for English, Gemma 3 270M for
  // Chinese; none installed: the statistical detector alone, said in the card), or a path.
  std::string lm_en, lm_zh;
  std::string lm_score = "model";  // "model": the model's evidence alone; "combined": with the statistical score
  double lm_threshold = 0.5;       // drop when that probability exceeds this
  int lm_fit_passages = 240;       // clean tuning passages the evidence is fit on (fewer: a quicker, rougher fit)
  static SpunConfig from_json(const nlohmann::json& j);
};

struct SpunFeatures {
  int words = 0;               // tokens scored
  double unseen_bigrams = 0;   // share of adjacent known-word pairs never seen in clean text
  double rare_words = 0;       // share of tokens rarer than the rare cutoff
  int lexicon_hits = 0;        // known tortured phrases
  int suspicious = 0;          // words whose pairs are unseen while a synonym's pairs are common
  int suspicious_weak = 0;     // ... while a synonym's pairs are seen at all
  int suspicious_rarer = 0;    // suspicious, and the word is rarer than that synonym
  int syn_tokens = 0;          // English: tokens with WordNet synonyms and a neighbour
  double syn_evidence = 0;     // English: sum over them of min(12, max(0, d - 3)), d how much
                               // better the best synonym fits the neighbours (log-probability)
  int char_pairs = 0;                // Chinese: adjacent character pairs across word boundaries
  double char_pairs_unseen = 0;      // Chinese: share of character pairs across word boundaries
                                     // seen neither in the reference text nor inside a dictionary word
  double char_pairs_unseen_ref = 0;  // ... not seen in the reference text
  int char_pairs_single = 0;            // Chinese: pairs between two one-character words (not in the above)
  double char_pairs_single_unseen = 0;  // ... share seen neither in the reference text nor a dictionary word
  double single_char_words = 0;  // Chinese: share of one-character words
  double llr = 0;              // document score (logit before the operating-point offset)
  double prob = 0;             // sigmoid(llr - offset): 0.5 at the tuned operating point
};

// The reference model: loaded (or built and cached) once per cache dir; thread-safe for
// concurrent scoring.
class SpunModel {
 public:
  static const SpunModel& get(const SpunConfig& cfg);
  // Builds from the Debian sources (used by get and by tests); held-out items are not used.
  static std::unique_ptr<SpunModel> build();
  SpunFeatures score(std::string_view text, Lang lang) const;
  ~SpunModel();
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  SpunModel();
  static const SpunModel& get_locked(const SpunConfig& cfg);
  std::unique_ptr<Impl> impl_;
};

Decision check_spun(Document& doc, const SpunConfig& cfg);
// The cache folder: cfg.cache_dir, else $VERITAS_CACHE, else ~/.cache/veritas.
std::string spun_cache_dir(const SpunConfig& cfg);

// Evaluation data made from the Debian sources: clean passages (split 0 = tuning,
// 1 = held-out; held-out passages never enter the reference statistics) and spun copies
// by WordNet-synonym substitution (English) or same-part-of-speech jieba-dictionary
// substitution (Chinese), replacing `rate` of the replaceable words.
// spun_eval_passages: the original sources only (KJV + WordNet glosses; fortunes-zh),
// the same passages as before the larger reference text (other filters' tests and the
// filter benchmark use them). spun_eval_passages_all: balanced across all the language's
// sources (spun_eval_source_names), or one source.
std::vector<std::string> spun_eval_passages(Lang lang, int split, int max_passages);
std::vector<std::string> spun_eval_passages_all(Lang lang, int split, int max_passages, const std::string& source = "");
std::vector<std::string> spun_eval_source_names(Lang lang);
// make_spun_copy, the spinner, is declared with the synthetic-corpus code (synth.hpp).

}  // namespace veritas
