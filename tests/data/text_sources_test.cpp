// The Debian source readers (data/text_sources), against the installed packages: the
// default corpus, the synthetic corpus and the spun-text statistics all read through them.
#include <gtest/gtest.h>

#include <string>

#include "veritas/data/text_sources.hpp"
#include "veritas/util/error.hpp"

using namespace veritas;

TEST(TextSources, KjvHasEveryVerse) {
  auto verses = sources::kjv_verses();
  EXPECT_EQ(verses.size(), 31102u);  // Genesis 1:1 to Revelation 22:21
  EXPECT_EQ(verses.front().rfind("In the beginning God created the heaven and the earth.", 0), 0u) << verses.front();
  EXPECT_NE(verses.back().find("grace of our Lord Jesus Christ"), std::string::npos) << verses.back();
}

TEST(TextSources, AnsiColoursAreStrippedToTheFirstLetter) {
  EXPECT_EQ(sources::strip_ansi("\x1b[1;33m春\x1b[0m眠"), "春眠");
  // A broken sequence in fortunes-zh: everything up to the first letter goes.
  EXPECT_EQ(sources::strip_ansi("\x1b[;\x1b[34;1mm来"), "m来");
  EXPECT_EQ(sources::strip_ansi("plain"), "plain");
}

TEST(TextSources, FortuneRecordsSplitAtPercentLines) {
  EXPECT_EQ(sources::fortune_records("a\nb\n%\nc\n%\n"), (std::vector<std::string>{"a\nb", "c"}));
  EXPECT_EQ(sources::fortune_entries("a\n  b\n%\nc\n"), (std::vector<std::string>{"a b", "c"}));
  auto zh = sources::fortunes_zh();
  EXPECT_GT(zh.size(), 1000u);
  for (const auto& e : zh) ASSERT_EQ(e.find('\x1b'), std::string::npos) << e;
}

TEST(TextSources, WordnetAndGcideGiveText) {
  auto glosses = sources::wordnet_glosses();
  EXPECT_GT(glosses.size(), 100000u);
  auto gcide = sources::gcide_source();
  EXPECT_GT(gcide.size(), 10000u);
  for (const auto& p : gcide) ASSERT_EQ(p.find('['), std::string::npos) << p;
}

TEST(TextSources, HtmlBlocksDropMarkupAndCode) {
  std::vector<std::string> out;
  sources::html_blocks("<html><head><title>x</title></head><p>One &amp; two</p><pre>code()</pre><div>Three</div>", out);
  EXPECT_EQ(out, (std::vector<std::string>{"One & two", "Three"}));
}

TEST(TextSources, AFailingCommandNamesItsPackage) {
  try {
    sources::run_command("false", "some-package");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("some-package"), std::string::npos) << e.what();
  }
}
