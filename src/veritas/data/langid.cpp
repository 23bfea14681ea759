#include "veritas/data/langid.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

namespace veritas {
namespace {

bool is_han(int32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0x20000 && cp <= 0x2FA1F);
}
bool is_kana(int32_t cp) { return (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF); }
bool is_hangul(int32_t cp) {
  return (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3130 && cp <= 0x318F);
}

// The most frequent English function words (closed classes: articles, pronouns,
// prepositions, auxiliaries, conjunctions). Content words are excluded on purpose: they
// are shared with other languages through loans.
const char* const kFunctionWords[] = {
      "the", "of", "and", "to", "a", "in", "is", "it", "that", "was", "he", "for", "on", "are", "as",
      "with", "his", "they", "i", "at", "be", "this", "have", "from", "or", "one", "had", "by", "but",
      "not", "what", "all", "were", "we", "when", "your", "can", "said", "there", "an", "each", "which",
      "she", "do", "how", "their", "if", "will", "up", "about", "out", "many", "then", "them", "these",
      "so", "some", "her", "would", "make", "like", "him", "into", "has", "more", "two", "no", "my",
      "than", "been", "who", "its", "now", "did", "down", "only", "could", "any", "over", "after",
      "also", "other", "our", "me", "should", "those", "you", "shall", "unto", "thou", "thee", "thy",
      "ye", "hath", "upon", "very", "just", "where", "most", "because", "such", "why", "us", "may",
      "used", "being", "through", "while", "without", "between", "under", "before", "again", "off",
      "here", "am", "does", "having", "both", "own", "same", "few", "against", "until", "during",
      "above", "below", "whom", "yours", "himself", "themselves", "itself", "whose", "nor", "too",
      "something", "someone", "often", "usually", "especially", "every", "either", "neither"};

// A lower-case word of at most 16 bytes packed into two words, zero padded: set lookups
// without building a string per word.
struct WordKey {
  uint64_t lo = 0, hi = 0;
  bool operator==(const WordKey& o) const { return lo == o.lo && hi == o.hi; }
};
WordKey pack(const char* w, size_t n) {
  char buf[16] = {};
  std::memcpy(buf, w, n);
  WordKey k;
  std::memcpy(&k.lo, buf, 8);
  std::memcpy(&k.hi, buf + 8, 8);
  return k;
}

// Open addressing over 4096 slots for ~150 words: a word not in the list almost always
// meets an empty slot at once, so the lookup rarely branches. The empty key marks a
// free slot.
class FunctionWordSet {
 public:
  FunctionWordSet() {
    for (const char* w : kFunctionWords) {
      WordKey k = pack(w, std::strlen(w));
      size_t i = slot(k);
      while (!(slots_[i] == WordKey{}) && !(slots_[i] == k)) i = (i + 1) & (kSize - 1);
      slots_[i] = k;
    }
  }
  bool contains(const WordKey& k) const {
    for (size_t i = slot(k);; i = (i + 1) & (kSize - 1)) {
      if (slots_[i] == k) return true;
      if (slots_[i] == WordKey{}) return false;
    }
  }

 private:
  static constexpr size_t kSize = 4096;
  static size_t slot(const WordKey& k) {
    return (size_t)(((k.lo * 0x9E3779B97F4A7C15ull) ^ (k.hi * 0xC2B2AE3D27D4EB4Full)) >> 52);
  }
  std::array<WordKey, kSize> slots_{};
};

// Bytes of a Latin word as they go into its key: ASCII letters lower-cased, the
// apostrophe ("don't" is one word); 0 for anything else.
const auto kWordByte = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 32] = (unsigned char)c;
  t['\''] = '\'';
  return t;
}();

}  // namespace

LangResult identify_language(std::string_view text) {
  const auto* p = (const unsigned char*)text.data();
  size_t n = text.size();
  long han = 0, kana = 0, hangul = 0, latin_words = 0, other_words = 0, fw = 0;
  // Current word state: 0 none, 1 Latin, 2 other script.
  int in_word = 0;
  WordKey word;  // the current Latin word: its first 16 bytes, lower case, zero padded
  size_t wlen = 0;
  static const FunctionWordSet fws;
  auto add_byte = [&](unsigned char b) {
    if (wlen < 8) word.lo |= (uint64_t)b << (8 * wlen);
    else if (wlen < 16) word.hi |= (uint64_t)b << (8 * (wlen - 8));
    if (wlen < 16) ++wlen;
  };
  auto end_word = [&] {
    if (in_word == 1) {
      ++latin_words;
      if (wlen <= 12 && fws.contains(word)) ++fw;
    } else if (in_word == 2) {
      ++other_words;
    }
    in_word = 0;
    wlen = 0;
    word = {};
  };
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x80) {
      if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
        if (in_word == 2) end_word();
        in_word = 1;
        // The whole run of letters and apostrophes at once.
        size_t j = i;
        while (j < n && kWordByte[p[j]]) ++j;
        size_t m = std::min<size_t>(j - i, 16);
        if (wlen == 0 && i + 16 <= n) {
          // Its first 16 bytes in two loads: | 0x20 lower-cases letters and keeps the
          // apostrophe; bytes past the run are masked off.
          uint64_t lo, hi;
          std::memcpy(&lo, p + i, 8);
          std::memcpy(&hi, p + i + 8, 8);
          uint64_t mlo = m >= 8 ? ~0ull : (1ull << (8 * m)) - 1;
          uint64_t mhi = m >= 16 ? ~0ull : m <= 8 ? 0 : (1ull << (8 * (m - 8))) - 1;
          word.lo = (lo | 0x2020202020202020ull) & mlo;
          word.hi = (hi | 0x2020202020202020ull) & mhi;
          wlen = m;
        } else {
          for (size_t k = i; k < j && wlen < 16; ++k) add_byte(kWordByte[p[k]]);
        }
        i = j;
        continue;
      }
      if (c == '\'' && in_word == 1) {
        add_byte('\'');
      } else {
        end_word();
      }
      ++i;
      continue;
    }
    int32_t cp;
    size_t len;
    if ((c & 0xF0) == 0xE0 && i + 2 < n && (p[i + 1] & 0xC0) == 0x80 && (p[i + 2] & 0xC0) == 0x80 &&
        (c != 0xE0 || p[i + 1] >= 0xA0) && (c != 0xED || p[i + 1] < 0xA0)) {
      // Three-byte characters (Han, kana, hangul) decoded inline; the rest by utf8proc.
      cp = ((c & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
      len = 3;
    } else {
      utf8proc_int32_t u;
      utf8proc_ssize_t l = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &u);
      if (l <= 0) { ++i; continue; }
      cp = u;
      len = (size_t)l;
    }
    i += len;
    if (is_han(cp)) { end_word(); ++han; continue; }
    if (is_kana(cp)) { end_word(); ++kana; continue; }
    if (is_hangul(cp)) { end_word(); ++hangul; continue; }
    utf8proc_category_t cat = utf8proc_category(cp);
    bool letter = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
    bool mark = cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME;
    if (letter || (mark && in_word)) {
      // Latin-1 / Latin Extended letters (é, ü, ß) mark a word as non-English.
      if (in_word == 1) {
        in_word = 2;
        wlen = 0;
        word = {};
      } else if (in_word == 0) {
        in_word = 2;
      }
      continue;
    }
    end_word();
  }
  end_word();
  LangResult r;
  double units = (double)(han + kana + hangul + latin_words + other_words);
  if (units <= 0) return r;  // no letters: other, score 0
  r.zh = han / units;
  if (kana + hangul > 0.05 * (han + 1)) r.zh *= 0.2;  // Japanese / Korean use Han too
  double latin = latin_words / units;
  double fw_ratio = latin_words ? (double)fw / latin_words : 0.0;
  // 0.25 function-word share already means English beyond doubt; below it the score
  // falls linearly.
  r.en = latin * std::min(1.0, fw_ratio / 0.25);
  if (r.zh >= 0.5 && r.zh >= r.en) {
    r.lang = Lang::Zh;
    r.score = r.zh;
  } else if (r.en >= 0.5) {
    r.lang = Lang::En;
    r.score = r.en;
  } else {
    r.lang = Lang::Other;
    r.score = 1.0 - std::max(r.zh, r.en);
  }
  return r;
}

}  // namespace veritas
