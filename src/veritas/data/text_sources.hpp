#pragma once
// Readers of the Debian texts that every corpus builder uses (the default corpus, the
// synthetic corpus, the spun-text reference statistics): where each package puts its
// text, how to run its program, and how to cut its format into items. A missing package
// throws Error naming it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace veritas::sources {

inline const char* const kWordnetDir = "/usr/share/wordnet";
inline const char* const kJiebaDict = "/usr/lib/python3/dist-packages/jieba/dict.txt";
inline const char* const kFortunesDir = "/usr/share/games/fortunes";
inline const char* const kFortunesZh = "/usr/share/games/fortunes/chinese";
inline const char* const kGcide = "/usr/share/dictd/gcide.dict.dz";
inline const char* const kHandbook = "/usr/share/doc/debian-handbook/html";
inline const char* const kReferenceZh = "/usr/share/debian-reference";
inline const char* const kFaqZh = "/usr/share/doc/debian/FAQ/zh-cn";
inline const char* const kMaintGuideZh = "/usr/share/doc/maint-guide-zh-cn/html";
inline const char* const kPythonDoc = "/usr/share/doc/python3.11/html";
inline const char* const kManZh = "/usr/share/man/zh_CN/man*/*.gz";

// The standard output of a shell command; throws Error naming the Debian package when
// the command fails or prints nothing.
std::string run_command(const std::string& cmd, const std::string& package);

// Calls f(line) for each line of text, without its '\n'.
template <class F>
void for_each_line(std::string_view text, F f) {
  size_t p = 0;
  while (p < text.size()) {
    size_t nl = text.find('\n', p);
    if (nl == std::string_view::npos) nl = text.size();
    f(text.substr(p, nl - p));
    p = nl + 1;
  }
}

// s without ANSI colour sequences (ESC '[' up to a letter; the fortune files carry them).
std::string strip_ansi(std::string_view s);

// bible-kjv: the `bible` program's text of Genesis 1:1 to Revelation 22:21 (headings
// "Book N" after blank lines, verses "  N text" with wrapped continuation lines).
std::string kjv_text(const std::string& bible = "bible", const std::string& options = "");
std::vector<std::string> kjv_verses();  // one item a verse, continuation lines joined

std::vector<std::string> wordnet_glosses();  // wordnet-base: one item a synset's gloss
std::vector<std::string> fortunes_zh();      // fortunes-zh "chinese": one item an entry
std::vector<std::string> fortunes_en();      // fortunes: the English files' entries
std::vector<std::string> fortune_entries(const std::string& text);  // "%"-line entries, lines joined
// The raw records of a fortune file: the text between "\n%\n" separators, as they stand.
std::vector<std::string> fortune_records(std::string_view text);
std::vector<std::string> gcide_source();  // dict-gcide: entry paragraphs, etymologies removed

// Sorted regular files under dir whose names end in suffix.
std::vector<std::string> list_files(const std::string& dir, const std::string& suffix);
// Paragraphs of HTML text (block tags end one; <pre>, <script>, <style>, <head> dropped).
void html_blocks(std::string_view s, std::vector<std::string>& out);
std::vector<std::string> html_source(const std::string& dir, const std::string& suffix, const std::string& package);
// Paragraphs of the gzipped groff man pages matching glob.
std::vector<std::string> man_source(const std::string& glob, const std::string& package);

}  // namespace veritas::sources
