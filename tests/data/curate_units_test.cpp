// Unit tests of the core curation stages: input reading, hygiene, visibility,
// normalization, language identification, dedup (with the LSH match probability
// checked against its formula on sets of known Jaccard similarity).
#include <gtest/gtest.h>
#include <utf8proc.h>
#include <zlib.h>
#include <zstd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "veritas/data/card.hpp"
#include "veritas/data/curate.hpp"
#include "veritas/data/dedup.hpp"
#include "veritas/data/hygiene.hpp"
#include "veritas/data/jsonl.hpp"
#include "veritas/data/langid.hpp"
#include "veritas/data/normalize.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/config.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/temp_dir.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/text.hpp"

using namespace veritas;

namespace {

fs::path tmpdir() {
  static const TempDir d("veritas-curate-units-");  // removed at exit
  return d.path();
}

void write_raw(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f << bytes;
}

std::vector<std::string> read_all(const std::string& path, size_t max_line = 1 << 20, int* too_long_count = nullptr) {
  LineReader r(path, max_line);
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
  EXPECT_THROW(LineReader("/nonexistent/file.jsonl"), Error);
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
  EXPECT_EQ(reason("{\"id\":\"1\",\"text\":\"x\",\"n\":1e999}"), "input.malformed_json");  // overflow: not a crash
  Document d;
  Decision dec = parse_document("{\"id\":\"1\",\"text\":\"a\xc3\"}", false, cfg, d);
  EXPECT_NE(dec.detail.find("offset 19"), std::string::npos) << dec.detail;
}

namespace {

// The reference semantics of parse_document: nlohmann alone (the parser before the
// simdjson fast path). Returns reason, detail, id, text, title and the fields as JSON.
std::string oracle_parse(const std::string& line, const HygieneConfig& cfg) {
  using nlohmann::json;
  auto out = [](const std::string& reason, const std::string& detail, const std::string& id = "",
                const std::string& text = "", const std::string& title = "", const std::string& raw = "") {
    return reason + "|" + detail + "|" + id + "|" + text + "|" + title + "|" + raw;
  };
  if (line.find_first_not_of(" \t\r") == std::string::npos) return out("input.blank_line", "");
  size_t bad = utf8_invalid_offset(line);
  if (bad != std::string::npos) return out("input.invalid_utf8", "invalid UTF-8 at byte offset " + std::to_string(bad));
  json raw;
  try {
    raw = json::parse(line);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    return out("input.malformed_json", "byte offset " + std::to_string(e.byte ? e.byte - 1 : 0) + ": " + what.substr(what.find("parse error")));
  } catch (const json::exception& e) {  // number overflow
    std::string what = e.what();
    return out("input.malformed_json", what.substr(what.find("] ") + 2));
  }
  if (!raw.is_object()) return out("input.not_object", std::string("a JSON ") + raw.type_name());
  std::string id;
  auto it = raw.find("id");
  if (it != raw.end() && !it->is_null()) {
    if (it->is_string()) id = it->get<std::string>();
    else if (it->is_number_integer()) id = std::to_string(it->get<int64_t>());
    else return out("input.bad_field_type", std::string("id is a ") + it->type_name(), id);
  }
  for (const auto& f : cfg.required)
    if (!raw.contains(f) || raw[f].is_null()) return out("input.missing_field", f, id);
  for (const char* f : {"text", "source", "author", "url", "title", "created_at", "lang"})
    if (raw.contains(f) && !raw[f].is_null() && !raw[f].is_string())
      return out("input.bad_field_type", std::string(f) + " is a " + raw[f].type_name(), id);
  std::string text = raw.contains("text") && raw["text"].is_string() ? raw["text"].get<std::string>() : "";
  std::string title = raw.contains("title") && raw["title"].is_string() ? raw["title"].get<std::string>() : "";
  raw.erase("text");
  return out("", "", id, text, title, raw.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string new_parse(const std::string& line, const HygieneConfig& cfg) {
  Document d;
  Decision dec = parse_document(line, false, cfg, d);
  std::string raw;
  if (dec.keep) {
    raw = "{";
    for (const Field& f : d.fields) {
      if (f.key == "text") continue;
      if (raw.size() > 1) raw += ',';
      append_json_string(raw, f.key);
      raw += ':';
      if (f.type == Field::String) append_json_string(raw, f.value);
      else raw += f.value;
    }
    raw += "}";
  }
  return dec.reason + "|" + dec.detail + "|" + d.id + "|" + d.text + "|" + d.title + "|" + raw;
}

}  // namespace

// The simdjson fast path must accept, reject and report exactly like nlohmann: every
// field, id conversion and error detail, on valid lines and on random corruptions.
TEST(Hygiene, FastParserAgreesWithNlohmannOnMutatedLines) {
  HygieneConfig cfg;
  std::vector<std::string> seeds = {
      R"({"id":"a1","text":"hello \"world\"\n\u00e9\ud83d\ude00","visibility":"public","n":-0,"big":18446744073709551615})",
      R"({"id":9223372036854775807,"text":"x","title":"T\u0000","f":1.5,"e":1e5,"a":[1,{"b":null}],"o":{"k":true}})",
      R"({"id":-12,"text":"caf\u00e9","id":"dup","lang":null,"source":"s","url":"http://x.org/","z":false})",
      R"({"te\u0078t":"escaped key","id":"k","visibility":"public"})",
      "{\"id\":\"zh\",\"text\":\"中文，测试！\",\"author\":\"作者\"}",
  };
  const std::string alphabet = "{}[]\",:\\/ -+.0123456789eEtrufalsn\x01\x7f\xc3\xa9\xff\xe4\xb8\xad";
  Rng rng(11);
  int agreed = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string line = seeds[rng.below(seeds.size())];
    int edits = (int)rng.below(4);
    for (int e = 0; e < edits && !line.empty(); ++e) {
      size_t pos = rng.below(line.size());
      switch (rng.below(3)) {
        case 0: line.erase(pos, 1 + rng.below(3)); break;
        case 1: line.insert(pos, 1, alphabet[rng.below(alphabet.size())]); break;
        default: line[pos] = alphabet[rng.below(alphabet.size())];
      }
    }
    ASSERT_EQ(new_parse(line, cfg), oracle_parse(line, cfg)) << "line: " << line;
    ++agreed;
  }
  EXPECT_EQ(agreed, 20000);
}

TEST(JsonWriter, StringsMatchNlohmannAndRoundTrip) {
  auto nl = [](const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  auto ours = [](const std::string& s) {
    std::string o;
    append_json_string(o, s);
    return o;
  };
  std::string all;
  for (int c = 0; c < 0x80; ++c) all += (char)c;
  for (const std::string& s : {std::string(), all, std::string("quote \" backslash \\ slash / tab\t nl\n cr\r"),
                               std::string("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80"), std::string("\x7f\x1b[31m"),
                               std::string("cut \xe4\xb8"), std::string("bad \xff\xfe end"), std::string("\xed\xa0\x80")}) {
    EXPECT_EQ(ours(s), nl(s)) << s;
    if (is_valid_utf8(s)) {
      EXPECT_EQ(nlohmann::json::parse(ours(s)).get<std::string>(), s);
    }
  }
  Rng rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string s;  // mostly invalid UTF-8
    for (int k = (int)rng.below(20); k > 0; --k) s += (char)rng.below(256);
    ASSERT_EQ(ours(s), nl(s));
  }
  const std::string pieces[] = {"a", "\"", "\\", "\n", "\x01", "\x1f", " ", "\xc3\xa9", "\xe4\xb8\xad", "\x7f", "/"};
  for (int i = 0; i < 2000; ++i) {
    std::string s;  // valid UTF-8: escapes anywhere in and across 8-byte blocks
    for (int k = (int)rng.below(40); k > 0; --k) s += pieces[rng.below(std::size(pieces))];
    ASSERT_EQ(ours(s), nl(s));
  }
  std::vector<double> nums = {0.0, -0.0, 1.0, 0.1, 1e20, 1.5e-7, 0.6923, 123456789.125, -2.5, 1e300,
                              (double)NAN, (double)INFINITY, 215.0, -7.0, 999999999999999.0, 1e15, -1e15, 1e16};
  for (int i = 0; i < 2000; ++i) {
    nums.push_back(std::round(rng.normal() * std::pow(10.0, (double)rng.below(17))));  // integral, all sizes
    nums.push_back(rng.normal() * std::pow(10.0, (double)rng.range(-8, 20)));
  }
  for (double v : nums) {
    std::string o;
    append_json_number(o, v);
    ASSERT_EQ(o, nlohmann::json(v).dump()) << v;
  }
}

// kept.jsonl and rejected.jsonl are written without nlohmann: each line must read back
// as JSON and be exactly what nlohmann would write for it.
TEST(JsonWriter, CurateOutputsAreCanonicalJson) {
  fs::path in = tmpdir() / "writer.jsonl";
  write_raw(in, "{\"id\":\"a\",\"text\":\"the cat and the \\\"dog\\\"\\nof it\\u0001\",\"visibility\":\"public\","
                "\"x\":1.5,\"y\":[1,{\"z\":null}],\"lang\":\"xx\",\"scores\":7,\"aaa\":true,\"zz\":-3}\n"
                "{\"id\":\"b\",\"text\":\"x\"\n"
                "{\"id\":\"c\",\"text\":\"the end of it and the\",\"visibility\":\"private\"}\n");
  CurateOptions opt;
  opt.inputs = {in.string()};
  opt.out_dir = (tmpdir() / "writer-out").string();
  opt.no_content_filters = true;
  CurateResult r = run_curate(opt);
  EXPECT_EQ(r.stats.kept, 1u);
  EXPECT_EQ(r.stats.rejected, 2u);
  for (const char* f : {"kept.jsonl", "rejected.jsonl"}) {
    std::vector<std::string> lines = read_all((fs::path(opt.out_dir) / f).string());
    for (const auto& l : lines) EXPECT_EQ(nlohmann::json::parse(l).dump(), l);
  }
  auto kept = nlohmann::json::parse(read_all((fs::path(opt.out_dir) / "kept.jsonl").string()).at(0));
  EXPECT_EQ(kept["text"], "the cat and the \"dog\"\nof it");
  EXPECT_EQ(kept["lang"], "en");
  EXPECT_EQ(kept["x"], 1.5);
  EXPECT_EQ(kept["y"], nlohmann::json::parse("[1,{\"z\":null}]"));
  EXPECT_EQ(kept["zz"], -3);
  EXPECT_TRUE(kept["scores"].is_object());
}

TEST(Visibility, DefaultDenyAndOptOut) {
  fs::path optfile = tmpdir() / "optout.txt";
  write_raw(optfile, "# comment\nid:gone\nauthor:alice\nurl:https://www.Example.com/private/*\n");
  VisibilityConfig cfg = VisibilityConfig::from_json({{"optout_file", optfile.string()}, {"optout_urls", {"http://x.org/a/"}}});
  auto reason = [&](const nlohmann::json& raw) {
    Document d;
    HygieneConfig any;
    any.required.clear();
    EXPECT_TRUE(parse_document(raw.dump(), false, any, d).keep) << raw.dump();
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

// nfkc() normalizes only the pieces its quick check flags; the result must equal
// utf8proc on the whole text, for text that mixes marks, jamo, compatibility forms.
TEST(Normalize, NfkcPiecesEqualWholeTextNfkc) {
  auto whole = [](const std::string& s) {
    utf8proc_uint8_t* dst = nullptr;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t*)s.data(), (utf8proc_ssize_t)s.size(), &dst,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT));
    std::string out((const char*)dst, (size_t)std::max<utf8proc_ssize_t>(n, 0));
    std::free(dst);
    return out;
  };
  const std::pair<int32_t, int32_t> ranges[] = {
      {0x20, 0x7E},     {0xA0, 0x24F},    {0x300, 0x36F},   {0x1100, 0x11FF}, {0xAC00, 0xAC40},
      {0x3000, 0x30FF}, {0xFF00, 0xFFEF}, {0x4E00, 0x4E40}, {0x0900, 0x0DFF}, {0x1E00, 0x1FFF},
      {0x2000, 0x2BFF}, {0xF900, 0xFB4F}, {0x1D400, 0x1D4FF}, {0x80, 0xFFFD}};
  Rng rng(3);
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    for (int k = 1 + (int)rng.below(8); k > 0; --k) {
      auto [lo, hi] = ranges[rng.below(std::size(ranges))];
      int32_t cp = (int32_t)rng.range(lo, hi);
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
      utf8proc_uint8_t u[4];
      s.append((const char*)u, (size_t)utf8proc_encode_char(cp, u));
    }
    ASSERT_EQ(nfkc(s), whole(s)) << s;
  }
  // Every BMP character between neighbours that compose (e + acute, Hangul L + V).
  for (int32_t cp = 0x80; cp < 0x10000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    utf8proc_uint8_t u[4];
    std::string c((const char*)u, (size_t)utf8proc_encode_char(cp, u));
    for (const std::string& s : {c, "e" + c + "\u0301", "\u1100" + c + "\u1161"}) ASSERT_EQ(nfkc(s), whole(s)) << cp;
  }
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

// Words are read 16 bytes at a time when 16 bytes remain, byte by byte near the end:
// trailing blanks (which add no units) must not change any score.
TEST(Language, WordsNearTheEndCountTheSame) {
  const char* words[] = {"the", "The", "THEMSELVES", "especially", "don't", "o'clock", "internationalization",
                         "café", "naïve", "über", "of", "a", "I", "unto", "x", "中文", "Ünter", "straße", "it's"};
  Rng rng(9);
  for (int i = 0; i < 3000; ++i) {
    std::string t;
    for (int k = 1 + (int)rng.below(6); k > 0; --k) {
      t += words[rng.below(std::size(words))];
      t += rng.below(3) ? " " : "";
    }
    LangResult a = identify_language(t), b = identify_language(t + std::string(24, ' '));
    ASSERT_EQ(a.lang, b.lang) << t;
    ASSERT_EQ(a.en, b.en) << t;
    ASSERT_EQ(a.zh, b.zh) << t;
    ASSERT_EQ(a.score, b.score) << t;
  }
  EXPECT_EQ(identify_language("the of and to").en, identify_language("THE Of AND to                 ").en);
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

TEST(CurateConfig, DocumentedConfigsPassAndUnknownKeysAreNamed) {
  EXPECT_NO_THROW(check_curation_config_keys(load_config(VERITAS_SOURCE_DIR "/configs/curate.toml")));
  EXPECT_NO_THROW(check_curation_config_keys(load_config(VERITAS_SOURCE_DIR "/bench/curate/core-only.toml")));
  EXPECT_NO_THROW(check_curation_config_keys(nlohmann::json::object()));
  auto error_of = [](const nlohmann::json& j) -> std::string {
    try {
      check_curation_config_keys(j);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of({{"spun", {{"treshold", 0.4}}}}), "curate config: unknown setting \"treshold\" in [spun]");
  EXPECT_EQ(error_of({{"dedupe", nlohmann::json::object()}}), "curate config: unknown section [dedupe]");
  EXPECT_EQ(error_of({{"pii", 3}}), "curate config: [pii] must be a table");
}
