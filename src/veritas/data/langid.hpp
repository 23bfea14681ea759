#pragma once
// Language identification (curation stage 4): zh, en or other, with a score in [0, 1].
// Script counts decide Chinese: each Han character is one unit, each run of letters in
// another script (a Latin word, a Cyrillic word ...) is one unit, kana and hangul
// characters count as units of their own scripts (Japanese and Korean text is "other").
// English needs Latin script and English function words: the share of words found in a
// list of the most frequent English words is high in English prose (typically 0.4-0.6)
// and low in other Latin-script languages (below 0.1). Rules and thresholds:
// docs/curation.md.
#include <string_view>

#include "veritas/data/document.hpp"

namespace veritas {

struct LangResult {
  Lang lang = Lang::Other;
  double score = 0;      // confidence in lang
  double zh = 0, en = 0; // per-language scores
};

LangResult identify_language(std::string_view text);

}  // namespace veritas
