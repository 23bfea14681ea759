#pragma once
// Spam filter (curation stage 7): keyword stuffing (title words or any frequent
// fragment repeated through the body, measured on character n-grams so it works for
// Chinese without segmentation), link / hashtag / mention density and promotional
// residue (加微信, 代购, "buy now", "click here" ...). Single pass, thread-safe.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/data/document.hpp"

namespace veritas {

struct SpamConfig {
  bool enabled = true;
  // Keyword stuffing: share of the text (code points, whitespace collapsed, ASCII
  // lower-cased) covered by character n-grams that occur at least stuff_min_repeats
  // times. Character n-grams need no word segmentation, so one rule serves Chinese and
  // English and catches fragments spliced mid-sentence.
  int stuff_ngram = 16, stuff_ngram_zh = 6;
  int stuff_min_repeats = 4;
  double max_stuffing = 0.35;
  // Title stuffing: share of the body covered by title n-grams repeated >= stuff_min_repeats.
  int title_ngram = 8, title_ngram_zh = 3;
  double max_title_coverage = 0.15;
  // Densities per 100 words (Chinese: 1.5 Han characters count as a word); a density
  // rule needs at least min_density_count occurrences.
  double max_links_per_100_words = 5;
  double max_hashtags_per_100_words = 3;
  double max_mentions_per_100_words = 5;
  int min_density_count = 3;
  int max_promo_hits = 3;           // distinct promotional phrases per document
  double max_promo_per_1000_chars = 3;  // promotional phrase hits per 1000 code points (with >= 3 hits)
  std::vector<std::string> extra_promo;  // added to the built-in phrase list
  static SpamConfig from_json(const nlohmann::json& j);
};

// Adds scores spam.stuffing, spam.links, spam.promo ...
Decision check_spam(Document& doc, const SpamConfig& cfg);

}  // namespace veritas
