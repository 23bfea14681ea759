// The spinner: spun copies of clean text for tests, tuning and benchmarks (WordNet
// synonyms for English, same-part-of-speech jieba words for Chinese).
#include "veritas/data/spun_tokens.hpp"
#include "veritas/data/synth.hpp"
#include "veritas/data/text_sources.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"

namespace veritas {
namespace spun {

const SpinResources& spin_resources() {
  static std::once_flag once;
  static std::unique_ptr<SpinResources> r;
  std::call_once(once, [] {
    r = std::make_unique<SpinResources>();
    for (const char* pos : {"noun", "verb", "adj", "adv"}) {
      sources::for_each_line(read_file(std::string(sources::kWordnetDir) + "/data." + pos), [&](std::string_view text) {
        std::string line(text);
        if (line.size() < 2 || line[0] == ' ') return;
        // offset lex_filenum ss_type w_cnt(hex) word lex_id ...
        char off[16], ss[4];
        int lexfile = 0, consumed = 0;
        unsigned wcnt = 0;
        if (std::sscanf(line.c_str(), "%15s %d %3s %x%n", off, &lexfile, ss, &wcnt, &consumed) != 4) return;
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
      });
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

}  // namespace spun

using namespace spun;

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
