#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "veritas/tokenizer/pretokenize.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/tokenizer/train.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"

using namespace veritas;

namespace {

std::vector<std::string> pieces(std::string_view s) {
  std::vector<std::string> out;
  bpe::PreTokenizer pt(s);
  std::string_view p;
  while (pt.next(p)) out.emplace_back(p);
  return out;
}

using V = std::vector<std::string>;

std::string random_bytes(Rng& rng, size_t n) {
  // Mix of ASCII, spaces, multi-byte UTF-8 and raw (often invalid) bytes.
  static const char* frags[] = {"a", "Z", "'s", " ", "  ", "\n", "\t", "7", "42", "é", "世界", "😀", "'", "\xc3", "\xff",
                                "\xe4\xb8", "\xed\xa0\x80", ".", "!?", " the", "'LL", "\xf0\x9f", "\xc2\xa0", "\x80"};
  std::string s;
  while (s.size() < n) {
    if (rng.below(4) == 0) s.push_back((char)rng.below(256));
    else s += frags[rng.below(sizeof frags / sizeof *frags)];
  }
  return s;
}

// Independent reference for BPE training: recount every pair from scratch before each
// merge (slow, obviously correct), same tie-break rule as the trainer.
std::vector<std::pair<int32_t, int32_t>> naive_train(const std::map<std::string, int64_t>& counts, int merges_wanted,
                                                     int64_t min_freq) {
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;
  for (auto& [w, c] : counts) {
    std::vector<int32_t> s;
    for (unsigned char ch : w) s.push_back(ch);
    words.push_back({s, c});
  }
  std::map<std::string, int32_t> ids;
  std::vector<std::string> bytes;
  for (int b = 0; b < 256; ++b) {
    bytes.push_back(std::string(1, (char)b));
    ids[bytes.back()] = b;
  }
  std::vector<std::pair<int32_t, int32_t>> merges;
  int next = 256;
  while (next < 256 + merges_wanted) {
    std::map<std::pair<int32_t, int32_t>, int64_t> pc;
    for (auto& [s, c] : words)
      for (size_t i = 0; i + 1 < s.size(); ++i) pc[{s[i], s[i + 1]}] += c;
    std::pair<int32_t, int32_t> best{-1, -1};
    int64_t bc = 0;
    for (auto& [p, c] : pc)  // map order = smallest pair first; strict > keeps it on ties
      if (c > bc) bc = c, best = p;
    if (bc < min_freq || bc == 0) break;
    std::string j = bytes[best.first] + bytes[best.second];
    int32_t z;
    if (ids.count(j)) {
      z = ids[j];
    } else {
      z = next++;
      bytes.push_back(j);
      ids[j] = z;
    }
    merges.push_back(best);
    for (auto& [s, c] : words) {
      std::vector<int32_t> t;
      for (size_t i = 0; i < s.size();)
        if (i + 1 < s.size() && s[i] == best.first && s[i + 1] == best.second) t.push_back(z), i += 2;
        else t.push_back(s[i++]);
      s = t;
    }
  }
  return merges;
}

// Independent reference for encoding one word: GPT-2's original loop (find the
// lowest-ranked pair, merge all its occurrences left to right, repeat).
std::vector<int32_t> naive_bpe(const Tokenizer& t, const std::string& word) {
  std::map<std::pair<int32_t, int32_t>, int> rank;
  const auto& m = t.merges();
  for (int r = (int)m.size() - 1; r >= 0; --r) rank[m[r]] = r;
  std::vector<std::string> syms;
  for (char c : word) syms.push_back(std::string(1, c));
  auto id = [&](const std::string& s) { return *t.token_id(s); };
  while (syms.size() > 1) {
    int best = -1;
    std::pair<int32_t, int32_t> bp;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      auto it = rank.find({id(syms[i]), id(syms[i + 1])});
      if (it != rank.end() && (best < 0 || it->second < best)) best = it->second, bp = it->first;
    }
    if (best < 0) break;
    std::vector<std::string> n;
    for (size_t i = 0; i < syms.size();)
      if (i + 1 < syms.size() && id(syms[i]) == bp.first && id(syms[i + 1]) == bp.second)
        n.push_back(syms[i] + syms[i + 1]), i += 2;
      else n.push_back(syms[i++]);
    syms = n;
  }
  std::vector<int32_t> out;
  for (auto& s : syms) out.push_back(id(s));
  return out;
}

Tokenizer small_trained() {
  BpeTrainer tr;
  Rng rng(7);
  static const char* words[] = {"the", "there", "then", "cat", "cats", "category", "hello", "world", "12", "123",
                                "don't", "it's", "  ", "\n\n", "世界", "世", "😀😀"};
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    text += words[rng.below(sizeof words / sizeof *words)];
    text += rng.below(3) ? " " : "\n";
  }
  tr.add_text(text);
  return tr.train(256 + 120 + 5, default_special_tokens(), 2);
}

}  // namespace

TEST(PreTokenizer, Gpt2Pattern) {
  EXPECT_EQ(pieces("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(pieces("I'm here, they'll've"), (V{"I", "'m", " here", ",", " they", "'ll", "'ve"}));
  EXPECT_EQ(pieces("IT'S it's"), (V{"IT", "'", "S", " it", "'s"}));  // contractions are lowercase only
  EXPECT_EQ(pieces("a  b"), (V{"a", " ", " b"}));
  EXPECT_EQ(pieces("a\n\nb"), (V{"a", "\n", "\n", "b"}));
  EXPECT_EQ(pieces("a   \n  b"), (V{"a", "   \n ", " b"}));
  EXPECT_EQ(pieces("x   "), (V{"x", "   "}));
  EXPECT_EQ(pieces("123abc 4.5"), (V{"123", "abc", " 4", ".", "5"}));
  EXPECT_EQ(pieces("!!!  ?'s"), (V{"!!!", " ", " ?'", "s"}));
  EXPECT_EQ(pieces("\t\tx"), (V{"\t", "\t", "x"}));
  EXPECT_EQ(pieces("你好，世界"), (V{"你好", "，", "世界"}));
  EXPECT_EQ(pieces(" ²³ Ⅻ"), (V{" ²³", " Ⅻ"}));  // No and Nl are numbers
  EXPECT_EQ(pieces("a\xff\xfe" "b \xff"), (V{"a", "\xff\xfe", "b", " \xff"}));
  EXPECT_EQ(pieces("a\xc2\xa0" "b"), (V{"a", "\xc2\xa0", "b"}));  // NBSP is white space
  EXPECT_EQ(pieces(""), V{});
}

TEST(PreTokenizer, PiecesJoinBackToAnyInput) {
  Rng rng(1);
  for (int t = 0; t < 300; ++t) {
    std::string s = random_bytes(rng, rng.below(200));
    std::string joined;
    for (auto& p : pieces(s)) {
      ASSERT_FALSE(p.empty());
      joined += p;
    }
    ASSERT_EQ(joined, s);
  }
}

TEST(ByteAlphabet, Gpt2Mapping) {
  EXPECT_EQ(bpe::byte_to_unicode(' '), 0x120);  // 'Ġ'
  EXPECT_EQ(bpe::byte_to_unicode('\n'), 0x10A);  // 'Ċ'
  EXPECT_EQ(bpe::byte_to_unicode('A'), 'A');
  EXPECT_EQ(bpe::byte_to_unicode(0xAD), 0x143);
  std::set<int32_t> seen;
  for (int b = 0; b < 256; ++b) {
    seen.insert(bpe::byte_to_unicode((uint8_t)b));
    EXPECT_EQ(bpe::byte_from_unicode(bpe::byte_to_unicode((uint8_t)b)), b);
  }
  EXPECT_EQ(seen.size(), 256u);
  std::string raw, all;
  for (int b = 0; b < 256; ++b) all.push_back((char)b);
  ASSERT_TRUE(bpe::token_string_to_bytes(bpe::bytes_to_token_string(all), raw));
  EXPECT_EQ(raw, all);
  EXPECT_FALSE(bpe::token_string_to_bytes("\xe4\xb8\x96", raw));  // '世' is not in the alphabet
}

TEST(Train, HandCheckedMerges) {
  BpeTrainer tr;
  for (int i = 0; i < 3; ++i) tr.add_text("abab");
  for (int i = 0; i < 2; ++i) tr.add_text("ab");
  tr.add_text("ba");
  // pairs: (a,b) = 3*2 + 2 = 8, (b,a) = 3 + 1 = 4 -> merge ab; then (ab,ab) = 3 -> abab;
  // then (b,a) = 1 -> ba (only with min frequency 1).
  Tokenizer t = tr.train(256 + 3 + 5, default_special_tokens(), 1);
  using P = std::pair<int32_t, int32_t>;
  EXPECT_EQ(t.merges(), (std::vector<P>{{'a', 'b'}, {256, 256}, {'b', 'a'}}));
  EXPECT_EQ(t.token_bytes(256), "ab");
  EXPECT_EQ(t.token_bytes(257), "abab");
  EXPECT_EQ(t.token_bytes(258), "ba");
  EXPECT_EQ(t.vocab_size(), 264);
  EXPECT_EQ(t.eot_id(), 259);
  EXPECT_EQ(*t.token_id(kEndOfTurn), 263);
  EXPECT_EQ(t.encode("abab"), (std::vector<int32_t>{257}));
  EXPECT_EQ(t.encode("ababab ba"), (std::vector<int32_t>{257, 256, ' ', 258}));
  // With min frequency 2 the (b,a) merge (count 1) is not learned.
  Tokenizer t2 = tr.train(256 + 3 + 5, default_special_tokens(), 2);
  EXPECT_EQ(t2.merges().size(), 2u);
  EXPECT_EQ(t2.vocab_size(), 263);
  // Ties go to the smaller pair.
  BpeTrainer tie;
  tie.add_text("cd");
  tie.add_text("ab");
  Tokenizer t3 = tie.train(256 + 1, {}, 1);
  EXPECT_EQ(t3.merges(), (std::vector<P>{{'a', 'b'}}));
}

TEST(Train, MatchesNaiveRecountReference) {
  Rng rng(3);
  for (int trial = 0; trial < 4; ++trial) {
    std::map<std::string, int64_t> counts;
    BpeTrainer tr;
    std::string text;
    for (int i = 0; i < 400; ++i) {
      std::string w = " ";
      int len = 1 + (int)rng.below(7);
      for (int k = 0; k < len; ++k) w.push_back("aabbbcd"[rng.below(7)]);
      text += w;
    }
    tr.add_text(text);
    for (auto& p : pieces(text)) ++counts[p];
    Tokenizer t = tr.train(256 + 60, {}, 2);
    auto ref = naive_train(counts, 60, 2);
    ASSERT_EQ(t.merges(), ref) << "trial " << trial;
  }
}

TEST(Train, Deterministic) {
  Tokenizer a = small_trained(), b = small_trained();
  EXPECT_EQ(a.merges(), b.merges());
  EXPECT_EQ(a.vocab_size(), b.vocab_size());
  for (int32_t id = 0; id < a.vocab_size(); ++id) EXPECT_EQ(a.token_bytes(id), b.token_bytes(id));
  // Counting in parallel gives the same tokenizer as counting serially.
  BpeTrainer p, s;
  std::vector<std::string> docs = {"the cat sat", "on the mat", "the cat", "sat sat sat", "mat the cat"};
  p.add_texts(docs);
  for (auto& d : docs) s.add_text(d);
  EXPECT_EQ(p.train(300, {}, 1).merges(), s.train(300, {}, 1).merges());
}

TEST(Train, SplitDigitsNeverMergesDigits) {
  // Text with many numbers (frequent, so they would win merges) and ordinary words.
  Rng rng(17);
  std::string text;
  static const char* words[] = {" the", " cat", " sat", " on", " mat", " and", " plus", " equals"};
  for (int i = 0; i < 3000; ++i) {
    text += words[rng.below(8)];
    if (rng.below(2)) text += " " + std::to_string(rng.below(1000));
    if (rng.below(3) == 0) text += " 12 + 34 = 46,100.5 x7 2024";
  }
  auto has_digit = [](const std::string& s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const int vocab = 256 + 200 + 5;

  BpeTrainer on;
  EXPECT_FALSE(on.split_digits());
  on.set_split_digits(true);
  EXPECT_TRUE(on.split_digits());
  on.add_text(text);
  Tokenizer t = on.train(vocab, default_special_tokens(), 2);
  EXPECT_GT(t.vocab_size(), 256 + 5 + 10);  // words still merge
  EXPECT_EQ(t.encode(" cat").size(), 1u);
  EXPECT_EQ(t.encode(" equals").size(), 1u);
  for (const auto& [a, b] : t.merges()) {
    EXPECT_FALSE(has_digit(t.token_bytes(a))) << t.token_bytes(a);
    EXPECT_FALSE(has_digit(t.token_bytes(b))) << t.token_bytes(b);
  }
  for (int32_t id = 256; id < t.vocab_size() - 5; ++id) EXPECT_FALSE(has_digit(t.token_bytes(id))) << id;
  // One token per digit: "12345", " +", " ", "6", "7", "8".
  std::vector<int32_t> ids = t.encode("12345 + 678");
  std::vector<std::string> toks;
  for (int32_t id : ids) toks.push_back(t.token_bytes(id));
  EXPECT_EQ(toks, (V{"1", "2", "3", "4", "5", " +", " ", "6", "7", "8"}));
  EXPECT_EQ(t.encode(" 5"), (std::vector<int32_t>{' ', '5'}));
  for (int32_t id : t.encode("x 2024 and 3.14159 then 100,000")) {
    std::string b = t.token_bytes(id);
    if (has_digit(b)) {
      EXPECT_EQ(b.size(), 1u) << b;
    }
  }
  EXPECT_EQ(t.decode(t.encode(text)), text);
  // Saved and loaded, the tokenizer encodes the same (the format does not change).
  auto dir = make_temp_dir("veritas-tok-");
  t.save(dir / "digits.json");
  EXPECT_EQ(Tokenizer::load(dir / "digits.json").encode("12345 + 678"), ids);
  fs::remove_all(dir);

  // Without the flag the same text does merge digits.
  BpeTrainer off;
  off.add_text(text);
  Tokenizer u = off.train(vocab, default_special_tokens(), 2);
  bool digit_merge = false;
  for (int32_t id = 256; id < u.vocab_size() - 5; ++id) digit_merge |= has_digit(u.token_bytes(id));
  EXPECT_TRUE(digit_merge);
  EXPECT_LT(u.encode("12 + 34").size(), 6u);
}

TEST(Encode, MatchesNaiveGpt2LoopPerWord) {
  Tokenizer t = small_trained();
  Rng rng(11);
  static const char* parts[] = {"the", "re", "n", "cat", "s", "ego", "ry", "12", "3", "'", "t", "世", "界", "😀", "x"};
  for (int i = 0; i < 500; ++i) {
    std::string w = rng.below(2) ? " " : "";
    int k = 1 + (int)rng.below(5);
    for (int j = 0; j < k; ++j) w += parts[rng.below(sizeof parts / sizeof *parts)];
    std::vector<int32_t> got;
    for (auto& p : pieces(w)) {
      auto ids = naive_bpe(t, p);
      got.insert(got.end(), ids.begin(), ids.end());
    }
    ASSERT_EQ(t.encode(w), got) << w;
  }
}

TEST(Encode, RoundTripsRandomBytesIncludingInvalidUtf8) {
  Tokenizer t = small_trained();
  Rng rng(5);
  for (int i = 0; i < 300; ++i) {
    std::string s = random_bytes(rng, rng.below(300));
    auto ids = t.encode(s);
    ASSERT_EQ(t.decode(ids), s);
    for (int32_t id : ids) ASSERT_LT(id, t.vocab_size() - 5);  // plain encode never emits specials
  }
  std::string all;
  for (int b = 255; b >= 0; --b) all.push_back((char)b);
  EXPECT_EQ(t.decode(t.encode(all)), all);
}

TEST(Encode, SpecialTokens) {
  Tokenizer t = small_trained();
  std::string text = "<|system|>be brief<|end|><|user|>hello world<|end|><|assistant|>hi<|endoftext|>";
  auto ids = t.encode_with_specials(text);
  std::vector<int32_t> specials;
  for (int32_t id : ids)
    if (id >= t.vocab_size() - 5) specials.push_back(id);
  EXPECT_EQ(specials, (std::vector<int32_t>{*t.token_id(kSystem), *t.token_id(kEndOfTurn), *t.token_id(kUser),
                                            *t.token_id(kEndOfTurn), *t.token_id(kAssistant), t.eot_id()}));
  EXPECT_EQ(ids.front(), *t.token_id(kSystem));
  EXPECT_EQ(ids.back(), t.eot_id());
  EXPECT_EQ(t.decode(ids), text);
  // Plain encode treats the same strings as text.
  auto plain = t.encode(text);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), t.eot_id()), 0);
  EXPECT_EQ(t.decode(plain), text);
  EXPECT_EQ(t.token_bytes(t.eot_id()), kEndOfText);
  // A partial special string is plain text.
  auto part = t.encode_with_specials("<|endoftex");
  EXPECT_EQ(part, t.encode("<|endoftex"));
}

TEST(TokenizerJson, SaveLoadRoundTrip) {
  auto dir = make_temp_dir("veritas-tok-");
  Tokenizer t = small_trained();
  t.save(dir / "tokenizer.json");
  Tokenizer u = Tokenizer::load(dir / "tokenizer.json");
  EXPECT_EQ(u.vocab_size(), t.vocab_size());
  EXPECT_EQ(u.merges(), t.merges());
  ASSERT_EQ(u.added_tokens().size(), t.added_tokens().size());
  for (size_t i = 0; i < t.added_tokens().size(); ++i) {
    EXPECT_EQ(u.added_tokens()[i].id, t.added_tokens()[i].id);
    EXPECT_EQ(u.added_tokens()[i].content, t.added_tokens()[i].content);
    EXPECT_TRUE(u.added_tokens()[i].special);
  }
  for (int32_t id = 0; id < t.vocab_size(); ++id) ASSERT_EQ(u.token_bytes(id), t.token_bytes(id));
  std::string text = "the category of cats, there then 123 世界 😀 <|endoftext|>";
  EXPECT_EQ(u.encode_with_specials(text), t.encode_with_specials(text));
  // Saving again gives identical bytes.
  u.save(dir / "again.json");
  EXPECT_EQ(read_file(dir / "again.json"), read_file(dir / "tokenizer.json"));

  // The file is Hugging Face's layout; merges in the ["a", "b"] form load the same.
  auto j = nlohmann::json::parse(read_file(dir / "tokenizer.json"));
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_EQ(j["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(j["model"]["vocab"]["Ġ"], 32);
  for (auto& m : j["model"]["merges"]) {
    std::string s = m.get<std::string>();
    size_t sp = s.find(' ');
    m = nlohmann::json::array({s.substr(0, sp), s.substr(sp + 1)});
  }
  atomic_write_file(dir / "pairs.json", j.dump());
  Tokenizer v = Tokenizer::load(dir / "pairs.json");
  EXPECT_EQ(v.merges(), t.merges());
  EXPECT_EQ(v.encode(text), t.encode(text));
  fs::remove_all(dir);
}

TEST(TokenizerJson, BadFilesGiveClearErrors) {
  auto dir = make_temp_dir("veritas-tok-");
  auto expect_error = [&](const std::string& body, const std::string& needle) {
    atomic_write_file(dir / "bad.json", body);
    try {
      Tokenizer::load(dir / "bad.json");
      ADD_FAILURE() << "no error for: " << body.substr(0, 80);
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("bad.json"), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    }
  };
  expect_error("{\"model\": {", "byte offset");
  expect_error("[1,2]", "object");
  expect_error("[800.0010e13253766040683]", "not valid JSON");  // overflow: found by fuzz_tokenizer_json
  expect_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "WordPiece");
  Tokenizer t = small_trained();
  t.save(dir / "good.json");
  auto j = nlohmann::json::parse(read_file(dir / "good.json"));
  auto bad = j;
  bad["model"]["merges"].push_back("zzzq q");
  expect_error(bad.dump(), "merge");
  bad = j;
  bad["model"]["merges"][0] = 17;
  expect_error(bad.dump(), "merge 0");
  bad = j;
  bad["model"]["vocab"].erase("a");
  expect_error(bad.dump(), "vocab");
  bad = j;
  bad["model"]["vocab"]["世"] = 300;
  expect_error(bad.dump(), "alphabet");
  bad = j;
  bad["model"]["vocab"]["zzzz"] = 1 << 30;  // would need a huge table: refused
  expect_error(bad.dump(), "out of range");
  bad = j;
  bad["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error(bad.dump(), "pre_tokenizer");
  EXPECT_THROW(Tokenizer::load(dir / "missing.json"), Error);
  EXPECT_THROW(t.decode({1, t.vocab_size()}), Error);
  EXPECT_THROW(t.decode({-1}), Error);
  EXPECT_THROW(t.token_bytes(1 << 30), Error);
  fs::remove_all(dir);
}

TEST(ImportGpt2, SmallFiles) {
  auto dir = make_temp_dir("veritas-tok-");
  nlohmann::json enc;
  for (int b = 0; b < 256; ++b) enc[bpe::bytes_to_token_string(std::string(1, (char)b))] = b;
  enc["Ġt"] = 256;
  enc["he"] = 257;
  enc["Ġthe"] = 258;
  enc["<|endoftext|>"] = 259;
  atomic_write_file(dir / "encoder.json", enc.dump());
  atomic_write_file(dir / "vocab.bpe", "#version: 0.2\nĠ t\nh e\nĠt he\n");
  Tokenizer t = import_gpt2(dir / "encoder.json", dir / "vocab.bpe");
  EXPECT_EQ(t.vocab_size(), 260);
  EXPECT_EQ(t.eot_id(), 259);
  EXPECT_EQ(t.encode(" the then"), (std::vector<int32_t>{258, 258, 'n'}));
  atomic_write_file(dir / "vocab.bpe", "#version: 0.2\nĠ t\nh e x\n");
  try {
    import_gpt2(dir / "encoder.json", dir / "vocab.bpe");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab.bpe:3"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}
