// Unit tests of the core curation stages: input reading, hygiene, visibility,
// normalization, language identification, dedup (with the LSH match probability
// checked against its formula on sets of known Jaccard similarity).
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "veritas/data/card.hpp"
#include "veritas/data/dedup.hpp"
#include "veritas/data/hygiene.hpp"
#include "veritas/data/jsonl.hpp"
#include "veritas/data/langid.hpp"
#include "veritas/data/normalize.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"

using namespace veritas;

namespace {

fs::path tmpdir() {
  static fs::path d = make_temp_dir("veritas-curate-units-");
  return d;
}

void write_raw(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f << bytes;
}

std::vector<std::string> read_all(const std::string& path, size_t max_line = 1 << 20, int* too_long_count = nullptr) {
  JsonlReader r(path, max_line);
  std::vector<std::string> lines;
  std::string l;
  bool tl;
  while (r.next(l, &tl)) {
    lines.push_back(l);
    if (tl && too_long_count) ++*too_long_count;
  }
  return lines;
}

}  // namespace

TEST(Jsonl, PlainGzipZstdGiveTheSameLines) {
  std::string text = "{\"a\":1}\r\nsecond line\n\nlast without newline";
  fs::path plain = tmpdir() / "in.jsonl", gz = tmpdir() / "in.jsonl.gz", zst = tmpdir() / "in.jsonl.zst";
  write_raw(plain, text);
  gzFile g = gzopen(gz.c_str(), "wb");
  gzwrite(g, text.data(), (unsigned)text.size());
  gzclose(g);
  std::string comp(ZSTD_compressBound(text.size()), '\0');
  comp.resize(ZSTD_compress(comp.data(), comp.size(), text.data(), text.size(), 3));
  write_raw(zst, comp);
  std::vector<std::string> want = {"{\"a\":1}", "second line", "", "last without newline"};
  EXPECT_EQ(read_all(plain.string()), want);
  EXPECT_EQ(read_all(gz.string()), want);
  EXPECT_EQ(read_all(zst.string()), want);
}

TEST(Jsonl, LongLinesAreReportedNotSplit) {
  fs::path p = tmpdir() / "long.jsonl";
  write_raw(p, "short\n" + std::string(5000, 'x') + "\nafter\n");
  int too_long = 0;
  auto lines = read_all(p.string(), 100, &too_long);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(too_long, 1);
  EXPECT_EQ(lines[1].size(), 100u);
  EXPECT_EQ(lines[2], "after");
}

TEST(Jsonl, CorruptCompressedStreamThrowsWithPath) {
  std::string text(100000, 'a');
  std::string comp(ZSTD_compressBound(text.size()), '\0');
  comp.resize(ZSTD_compress(comp.data(), comp.size(), text.data(), text.size(), 3));
  comp.resize(comp.size() / 2);  // truncated
  fs::path p = tmpdir() / "bad.zst";
  write_raw(p, comp);
  try {
    read_all(p.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.zst"), std::string::npos) << e.what();
  }
  EXPECT_THROW(JsonlReader("/nonexistent/file.jsonl"), Error);
}

TEST(Hygiene, EveryProblemHasItsReason) {
  HygieneConfig cfg;
  auto reason = [&](const std::string& line, bool too_long = false) {
    Document d;
    return parse_document(line, too_long, cfg, d).reason;
  };
  EXPECT_EQ(reason("{\"id\":\"1\",\"text\":\"hello\"}"), "");
  EXPECT_EQ(reason("{\"id\":7,\"text\":\"hello\"}"), "");
  EXPECT_EQ(reason("x", true), "input.oversized_line");
  EXPECT_EQ(reason("   "), "input.blank_line");
  EXPECT_EQ(reason("{\"id\":\"1\",\"text\":\"a\xff\"}"), "input.invalid_utf8");
  EXPECT_EQ(reason("{\"id\":\"1\",\"text\":\"a\""), "input.malformed_json");
  EXPECT_EQ(reason("[1,2]"), "input.not_object");
  EXPECT_EQ(reason("{\"id\":\"1\"}"), "input.missing_field");
  EXPECT_EQ(reason("{\"text\":\"x\"}"), "input.missing_field");
  EXPECT_EQ(reason("{\"id\":\"1\",\"text\":5}"), "input.bad_field_type");
  EXPECT_EQ(reason("{\"id\":[1],\"text\":\"x\"}"), "input.bad_field_type");
  Document d;
  Decision dec = parse_document("{\"id\":\"1\",\"text\":\"a\xc3\"}", false, cfg, d);
  EXPECT_NE(dec.detail.find("offset 19"), std::string::npos) << dec.detail;
}

TEST(Visibility, DefaultDenyAndOptOut) {
  fs::path optfile = tmpdir() / "optout.txt";
  write_raw(optfile, "# comment\nid:gone\nauthor:alice\nurl:https://www.Example.com/private/*\n");
  VisibilityConfig cfg = VisibilityConfig::from_json({{"optout_file", optfile.string()}, {"optout_urls", {"http://x.org/a/"}}});
  auto reason = [&](const nlohmann::json& raw) {
    Document d;
    d.raw = raw;
    d.id = raw.value("id", "");
    return check_visibility(d, cfg).reason;
  };
  EXPECT_EQ(reason({{"id", "1"}, {"visibility", "public"}}), "");
  EXPECT_EQ(reason({{"id", "1"}}), "visibility.missing");
  EXPECT_EQ(reason({{"id", "1"}, {"visibility", nullptr}}), "visibility.missing");
  EXPECT_EQ(reason({{"id", "1"}, {"visibility", 1}}), "visibility.invalid");
  for (const char* v : {"private", "protected", "followers", "deleted", "", "PUBLIC", "unknown"})
    EXPECT_EQ(reason({{"id", "1"}, {"visibility", v}}), "visibility.not_public") << v;
  EXPECT_EQ(reason({{"id", "gone"}, {"visibility", "public"}}), "visibility.optout_id");
  EXPECT_EQ(reason({{"id", "2"}, {"visibility", "public"}, {"author", "alice"}}), "visibility.optout_author");
  EXPECT_EQ(reason({{"id", "2"}, {"visibility", "public"}, {"url", "http://example.com/private/x#frag"}}), "visibility.optout_url");
  EXPECT_EQ(reason({{"id", "2"}, {"visibility", "public"}, {"url", "https://x.org/a"}}), "visibility.optout_url");
  EXPECT_EQ(reason({{"id", "2"}, {"visibility", "public"}, {"url", "https://x.org/ab"}}), "");
  EXPECT_EQ(reason({{"id", "2"}, {"visibility", "public"}, {"url", "https://example.com/public"}}), "");
  write_raw(optfile, "nonsense line\n");
  try {
    VisibilityConfig::from_json({{"optout_file", optfile.string()}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optout.txt:1"), std::string::npos) << e.what();
  }
}

TEST(Normalize, HtmlEntitiesNfkcControlsWhitespace) {
  EXPECT_EQ(normalize_text("<p>Hello&nbsp;<b>world</b> &amp; more</p><p>next</p>"), "Hello world & more\n\nnext");
  EXPECT_EQ(normalize_text("<script>var x = 1;</script>text<style>p{}</style> here"), "text here");
  EXPECT_EQ(normalize_text("if a < b and c > d then"), "if a < b and c > d then");
  EXPECT_EQ(normalize_text("&lt;p&gt; is a tag &#65;&#x42; &bogus;"), "<p> is a tag AB &bogus;");
  EXPECT_EQ(normalize_text("ＡＢＣ１２３　ｶﾀｶﾅ"), "ABC123 カタカナ");  // NFKC: fullwidth, halfwidth kana
  EXPECT_EQ(normalize_text("ﬁne ① x²"), "fine 1 x2");
  EXPECT_EQ(normalize_text("a\x01\x7f" "b\xe2\x80\x8b" "c\xef\xbb\xbf" "d \x1b[33mcolour\x1b[m"), "abcd colour");
  EXPECT_EQ(normalize_text("  one   two\t\tthree  \r\n\r\n\r\n\n  four  "), "one two three\n\nfour");
  EXPECT_EQ(normalize_text("<!-- hidden -->\n\n"), "");
  // Idempotent on plain text.
  std::string t = normalize_text("Ｔｈｅ  <i>quick</i>\n\n\n brown\u00a0fox");
  EXPECT_EQ(normalize_text(t), t);
}

TEST(Language, EnglishChineseOther) {
  auto id = [](const char* s) { return identify_language(s); };
  auto en = id("In the beginning God created the heaven and the earth. And the earth was without form, and void.");
  EXPECT_EQ(en.lang, Lang::En);
  EXPECT_GT(en.score, 0.9);
  auto zh = id("在 Debian 这种规模的项目中，很难避免遇到与你意见不和，或者难以合作的人。请接受这一事实，并保持礼貌。");
  EXPECT_EQ(zh.lang, Lang::Zh);
  EXPECT_GT(zh.score, 0.8);
  EXPECT_EQ(id("Die Datei konnte nicht geöffnet werden, weil der Zugriff verweigert wurde und kein Speicher frei ist.").lang, Lang::Other);
  EXPECT_EQ(id("Le fichier ne peut pas être ouvert car le répertoire est plein et les droits manquent.").lang, Lang::Other);
  EXPECT_EQ(id("ファイルを開くことができませんでした。アクセスが拒否されました。").lang, Lang::Other);
  EXPECT_EQ(id("Не удалось открыть файл: доступ запрещён.").lang, Lang::Other);
  EXPECT_EQ(id("12345 !!! ...").lang, Lang::Other);
}

TEST(Dedup, ExactAndNearFirstSurvivesAndClusters) {
  DedupConfig cfg;
  MinHasher mh(cfg);
  DedupIndex idx(cfg);
  std::string base;
  Rng rng(3);
  for (int i = 0; i < 300; ++i) base += "w" + std::to_string(rng.below(5000)) + " ";
  std::string near = base;
  near.replace(near.find(' ', 100), 1, " inserted ");  // one edit: Jaccard ~ 0.98
  std::string other;
  for (int i = 0; i < 300; ++i) other += "v" + std::to_string(rng.below(5000)) + " ";
  EXPECT_EQ(idx.add("a", mh.signature(base, Lang::En)).kind, DedupIndex::Result::Unique);
  auto r = idx.add("b", mh.signature(base, Lang::En));
  EXPECT_EQ(r.kind, DedupIndex::Result::Exact);
  EXPECT_EQ(r.root_id, "a");
  r = idx.add("c", mh.signature(near, Lang::En));
  EXPECT_EQ(r.kind, DedupIndex::Result::Near);
  EXPECT_EQ(r.root_id, "a");
  EXPECT_EQ(idx.add("d", mh.signature(other, Lang::En)).kind, DedupIndex::Result::Unique);
  auto h = idx.cluster_histogram();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[3], 1u);  // a + b + c
  // Chinese: character shingles, punctuation does not matter.
  std::string zh = "在这种规模的项目中很难避免遇到与你意见不和或者难以合作的人请接受这一事实并保持礼貌意见不一致并不是糟糕举止或者人身攻击的借口";
  std::string zh2 = "在这种规模的项目中，很难避免遇到与你意见不和，或者难以合作的人。请接受这一事实，并保持礼貌。意见不一致并不是糟糕举止或者人身攻击的借口";
  EXPECT_EQ(idx.add("z1", mh.signature(zh, Lang::Zh)).kind, DedupIndex::Result::Unique);
  EXPECT_EQ(idx.add("z2", mh.signature(zh2, Lang::Zh)).kind, DedupIndex::Result::Near);
}

// The LSH match rate on pairs of shingle sets with an exact Jaccard similarity s must
// follow P(s) = 1 - (1 - s^r)^b (independent reference: the formula vs. the code).
TEST(Dedup, MatchRateFollowsTheBandingFormula) {
  DedupConfig cfg;
  Rng rng(11);
  for (double s : {0.5, 0.7, 0.8, 0.9}) {
    int trials = 300, hits = 0;
    for (int t = 0; t < trials; ++t) {
      cfg.seed = (uint64_t)t + 1;
      // Two documents of single-word "shingles" (word_ngram = 1 makes sets explicit):
      // 200 words in total with a shared fraction giving Jaccard exactly s.
      DedupConfig c1 = cfg;
      c1.word_ngram = 1;
      MinHasher m1(c1);
      int total = 200, shared = (int)std::lround(s * total);
      int own = (total - shared) / 2;
      std::string a, b;
      uint64_t base = rng.next() % 1000000;
      for (int k = 0; k < shared; ++k) { a += "s" + std::to_string(base + k) + " "; b += "s" + std::to_string(base + k) + " "; }
      for (int k = 0; k < own; ++k) { a += "a" + std::to_string(base + k) + " "; b += "b" + std::to_string(base + k) + " "; }
      auto sa = m1.signature(a, Lang::En), sb = m1.signature(b, Lang::En);
      bool match = false;
      for (int k = 0; k < cfg.bands; ++k) match |= sa.bands[k] == sb.bands[k];
      hits += match;
    }
    double jac = (double)std::lround(s * 200) / (std::lround(s * 200) + 2 * ((200 - std::lround(s * 200)) / 2));
    double p = cfg.match_probability(jac), rate = (double)hits / trials;
    double sd = std::sqrt(p * (1 - p) / trials);
    EXPECT_NEAR(rate, p, 4 * sd + 0.01) << "s=" << s;
  }
}

// The vectorized MinHash kernel against the plain formula, min over x of
// (a_i * x + b_i) >> 32 (mod 2^64), for group sizes that do and do not fill its registers.
TEST(Dedup, MinHashKernelMatchesTheFormula) {
  Rng rng(5);
  for (auto [bands, rows] : {std::pair{14, 8}, std::pair{3, 5}, std::pair{1, 1}, std::pair{64, 32}}) {
    DedupConfig cfg;
    cfg.bands = bands;
    cfg.rows = rows;
    cfg.seed = rng.next();
    MinHasher mh(cfg);
    size_t k = (size_t)bands * rows;
    for (size_t n : {1, 2, 3, 17, 500}) {
      std::vector<uint32_t> sh(n);
      for (auto& x : sh) x = (uint32_t)rng.next();
      sh[0] = rng.below(2) ? 0 : 0xFFFFFFFFu;
      std::vector<uint32_t> sig(k), want(k, 0xFFFFFFFFu);
      mh.minhash_of(sh.data(), n, sig.data());
      for (size_t i = 0; i < k; ++i) {
        auto [a, b] = mh.permutation(i);
        for (uint32_t x : sh) want[i] = std::min(want[i], (uint32_t)((a * x + b) >> 32));
      }
      EXPECT_EQ(sig, want) << bands << "x" << rows << " n=" << n;
    }
  }
}

TEST(Dedup, SignatureFilesRoundTripAndRejectCorruption) {
  DedupConfig cfg;
  MinHasher mh(cfg);
  fs::path p = tmpdir() / "sig.bin";
  {
    AtomicFile f(p);
    SignatureWriter w(f.file(), cfg);
    w.add({5, "doc-a", mh.signature("one two three four five six", Lang::En)});
    w.add({9, "doc-b", mh.signature("", Lang::En)});
    std::fflush(f.file());
    f.commit();
  }
  SignatureReader r(p.string());
  SignatureRecord rec;
  ASSERT_TRUE(r.next(rec));
  EXPECT_EQ(rec.order, 5u);
  EXPECT_EQ(rec.id, "doc-a");
  EXPECT_EQ(rec.sig.bands.size(), 14u);
  ASSERT_TRUE(r.next(rec));
  EXPECT_EQ(rec.id, "doc-b");
  EXPECT_TRUE(rec.sig.bands.empty());
  EXPECT_FALSE(r.next(rec));
  std::string bytes = read_file(p);
  write_raw(p, bytes.substr(0, bytes.size() - 20));
  SignatureReader r2(p.string());
  ASSERT_TRUE(r2.next(rec));
  try {
    r2.next(rec);
    FAIL() << "truncated file accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sig.bin"), std::string::npos);
  }
}

TEST(Card, MergeAddsUpAndChecksBalance) {
  CurationStats a, b;
  a.stages = {"input"};
  a.lines_in = 3; a.kept = 2; a.rejected = 1; a.reasons["input.blank_line"] = 1;
  b.lines_in = 2; b.kept = 1; b.rejected = 1; b.reasons["input.blank_line"] = 1;
  a.merge(b);
  EXPECT_TRUE(a.balanced());
  EXPECT_EQ(a.reasons["input.blank_line"], 2u);
  auto back = CurationStats::from_json(a.to_json());
  EXPECT_EQ(back.lines_in, 5u);
  a.kept = 1;
  EXPECT_FALSE(a.balanced());
  EXPECT_NE(a.to_markdown().find("NO: documents lost"), std::string::npos);
}
