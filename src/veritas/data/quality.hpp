#pragma once
// Quality heuristics (curation stage 6). English rules follow Gopher (Rae et al. 2021),
// C4 (Raffel et al. 2020) and FineWeb (Penedo et al. 2024); Chinese rules follow
// FineWeb-2 cmn_Hani, ChineseWebText and MAP-CC (see docs/curation-filters.md). One
// pass over the text collects every statistic; the first failing rule drops the doc
// with a reason code "quality.*" and the value and threshold in the detail.
// Thread-safe: no shared mutable state.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/data/document.hpp"

namespace veritas {

struct QualityConfig {
  bool enabled = true;
  // Length: words for en/other, non-space characters for zh.
  int min_words = 50, max_words = 100000;   // Gopher
  int min_chars_zh = 100, max_chars_zh = 200000;
  double min_mean_word_len = 3, max_mean_word_len = 10;  // Gopher (en only)
  double max_symbol_ratio = 0.1;       // Gopher: '#' and '...' per word
  double max_digit_ratio = 0.3;        // digits / non-space chars
  double min_alpha_words = 0.8;        // Gopher: words with a letter (en)
  int min_stop_words = 2;              // Gopher: the, be, to, of, and, that, have, with (en)
  double min_cjk_ratio = 0.3;          // zh: Han chars / non-space chars (ChineseWebText)
  double min_punct_lines = 0.12;       // FineWeb: lines ending in terminal punctuation
  int punct_lines_min_lines = 3;       // the rule applies only to docs with this many lines
  double max_short_lines = 0.67;       // FineWeb: lines shorter than short_line_chars
  int short_line_chars = 30;
  int short_line_chars_zh = 10;        // Chinese packs about 2.5x more per character
  double max_bullet_lines = 0.9;       // Gopher
  double max_ellipsis_lines = 0.3;     // Gopher
  double max_dup_lines = 0.3;          // Gopher: duplicated line fraction (by count)
  double max_dup_line_chars = 0.2;     // Gopher: chars in duplicated lines
  double max_dup_paras = 0.3, max_dup_para_chars = 0.2;  // Gopher
  // Gopher top n-gram char fraction for n = 2, 3, 4 and duplicated n-gram char
  // fraction for n = 5..10 (characters stand in for words in Chinese, with n doubled).
  double max_top_ngram[3] = {0.20, 0.18, 0.16};
  double max_dup_ngram[6] = {0.15, 0.14, 0.13, 0.12, 0.11, 0.10};
  double min_char_entropy = 3.0;       // bits per character (Shannon, over code points)
  double max_boilerplate = 0.2;        // share of lines that are navigation/footer residue
  int min_boilerplate_lines = 2;       // ... and at least this many such lines
  int boilerplate_lines_drop = 5;      // this many such lines drop a long document too
  int boilerplate_line_chars = 40;     // a navigation phrase marks a line only this short
  int max_boilerplate_phrases = 4;     // distinct cookie/lorem/read-more hits per doc
  double max_code_ratio = 0.01;        // '{' '}' ';' '=' per non-space char (code residue) ...
  int min_code_braces = 4;             // ... with at least this many braces
  static QualityConfig from_json(const nlohmann::json& j);  // keys as the field names
};

// Aho-Corasick automaton over bytes with ASCII case folding: one table lookup per input
// byte whatever the number of phrases. A phrase whose first/last byte is an ASCII letter
// or digit matches only at word boundaries ("home" does not match "homework").
// Immutable after construction, so it can be shared between threads.
class PhraseMatcher {
 public:
  explicit PhraseMatcher(const std::vector<std::string>& phrases);
  size_t size() const { return phrases_.size(); }
  const std::string& phrase(size_t k) const { return phrases_[k]; }
  // Calls on_hit(phrase_index, begin_offset) for every occurrence, in order of end
  // offset (then longest first).
  template <class F>
  void scan(std::string_view text, F&& on_hit) const {
    const auto* t = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    auto emit = [&](size_t i, uint32_t row) {
      int32_t st = (int32_t)(row / stride_);
      for (int32_t o = out_begin_[st]; o < out_begin_[st + 1]; ++o) {
        int32_t p = out_[o];
        size_t len = phrases_[p].size(), b = i + 1 - len;
        if (bound_left_[p] && b > 0 && is_word_byte(t[b - 1])) continue;
        if (bound_right_[p] && i + 1 < n && is_word_byte(t[i + 1])) continue;
        on_hit((size_t)p, b);
      }
    };
    // Long texts: the states with outputs are collected by two interleaved runs first
    // (see collect_outputs), then reported; a callback that scans again gets the plain
    // loop, as the collection buffer is per thread.
    thread_local bool collecting = false;
    if (n >= kTwoRunsMin && !collecting) {
      struct Guard {
        bool& b;
        explicit Guard(bool& x) : b(x) { b = true; }
        ~Guard() { b = false; }
      } guard(collecting);
      thread_local std::vector<Output> outs;
      collect_outputs(t, n, outs);
      for (const Output& o : outs) emit(o.end, o.row);
      return;
    }
    uint32_t row = 0;
    for (size_t i = 0; (i = next_output(t, i, n, row)) < n; ++i) emit(i, row);
  }

 private:
  static bool is_word_byte(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }
  // Runs the automaton from byte i in state `row` (a row offset) to the first byte that
  // enters a state with outputs; returns its index (n when none). Kept out of line so
  // the loop has its registers to itself wherever scan is inlined.
  size_t next_output(const unsigned char* t, size_t i, size_t n, uint32_t& row) const;
  // Every (end offset, state) where the automaton enters a state with outputs, in order.
  // The text is cut in kRuns parts that run at once (independent chains of table
  // loads); each run but the first starts max_len_ - 1 bytes early, after which its
  // state is the one a single run would have, since no phrase is longer.
  struct Output {
    size_t end;
    uint32_t row;
  };
  static constexpr int kRuns = 4;
  static constexpr size_t kTwoRunsMin = 256;
  void collect_outputs(const unsigned char* t, size_t n, std::vector<Output>& outs) const;
  std::vector<std::string> phrases_;
  size_t max_len_ = 0;
  std::vector<char> bound_left_, bound_right_;
  uint8_t class_[256] = {};         // byte -> column
  uint32_t stride_ = 0;             // entries per row
  std::vector<uint32_t> delta_;     // states x stride_: next row offset | has-outputs bit
  std::vector<int32_t> out_begin_;  // states + 1 offsets into out_
  std::vector<int32_t> out_;
};

// Adds scores quality.words, quality.entropy, quality.punct_lines, quality.dup_lines ...
Decision check_quality(Document& doc, const QualityConfig& cfg);

}  // namespace veritas
