// The settings curation knows, by section (configs/curate.toml documents each one): a
// misspelt key would otherwise be ignored silently and its default used.
#include <map>
#include <set>
#include <string>

#include "veritas/data/curate.hpp"
#include "veritas/util/error.hpp"

namespace veritas {

void check_curation_config_keys(const nlohmann::json& cfg) {
  static const std::map<std::string, std::set<std::string>> known = {
      {"input", {"max_line_bytes", "required_fields"}},
      {"visibility", {"allow", "optout_ids", "optout_authors", "optout_urls", "optout_file"}},
      {"normalize", {"html", "nfkc", "controls", "whitespace"}},
      {"language", {"keep", "min_score"}},
      {"dedup", {"exact", "near", "bands", "rows", "word_ngram", "char_ngram", "seed"}},
      {"pipeline", {"batch_docs", "batch_bytes"}},
      {"quality", {"enabled", "min_words", "max_words", "min_chars_zh", "max_chars_zh", "min_mean_word_len", "max_mean_word_len", "max_symbol_ratio", "max_digit_ratio", "min_alpha_words", "min_stop_words", "min_cjk_ratio", "min_punct_lines", "punct_lines_min_lines", "max_short_lines", "short_line_chars", "short_line_chars_zh", "max_bullet_lines", "max_ellipsis_lines", "max_dup_lines", "max_dup_line_chars", "max_dup_paras", "max_dup_para_chars", "max_top_ngram", "max_dup_ngram", "min_char_entropy", "max_boilerplate", "min_boilerplate_lines", "boilerplate_lines_drop", "boilerplate_line_chars", "max_boilerplate_phrases", "max_code_ratio", "min_code_braces"}},
      {"spam", {"enabled", "stuff_ngram", "stuff_ngram_zh", "stuff_min_repeats", "max_stuffing", "title_ngram", "title_ngram_zh", "max_title_coverage", "max_links_per_100_words", "max_hashtags_per_100_words", "max_mentions_per_100_words", "min_density_count", "max_promo_hits", "max_promo_per_1000_chars", "extra_promo"}},
      {"spun", {"enabled", "cache_dir", "threshold", "min_words", "lexicon_hits_drop", "lm_en", "lm_zh", "lm_score",
                "lm_threshold", "lm_fit_passages"}},
      {"pii", {"enabled", "email", "phone", "ip", "card", "cn_id", "max_hits"}},
      {"classifier", {"model", "threshold"}},
  };
  if (cfg.is_null()) return;
  check(cfg.is_object(), "curate config: expected a table of sections");
  for (auto it = cfg.begin(); it != cfg.end(); ++it) {
    auto sec = known.find(it.key());
    check(sec != known.end(), "curate config: unknown section [" + it.key() + "]");
    check(it.value().is_object(), "curate config: [" + it.key() + "] must be a table");
    for (auto kv = it.value().begin(); kv != it.value().end(); ++kv)
      check(sec->second.count(kv.key()) > 0,
            "curate config: unknown setting \"" + kv.key() + "\" in [" + it.key() + "]");
  }
}

uint64_t unreadable_lines(const CurationStats& s) {
  uint64_t n = 0;
  for (const auto& [reason, count] : s.reasons)
    if (reason.rfind("input.", 0) == 0 && reason != "input.blank_line") n += count;
  return n;
}

}  // namespace veritas
