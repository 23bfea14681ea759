// Hugging Face formats against independent references (tests/reference/hf_ref.py, run in
// the project's .venv): tokenizer.json variants against Hugging Face tokenizers. A
// missing package or model file fails.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

using namespace veritas;

namespace {

// Runs one mode of the reference script into a fresh folder.
struct HfRef {
  fs::path dir;
  explicit HfRef(const std::string& mode) {
    dir = make_temp_dir("hf-ref-" + mode);
    std::string cmd = VERITAS_SOURCE_DIR "/.venv/bin/python " VERITAS_SOURCE_DIR "/tests/reference/hf_ref.py " + mode +
                      " " + dir.string() + " > " + (dir / "log.txt").string() + " 2>&1";
    if (std::system(cmd.c_str()) != 0)
      throw std::runtime_error("reference script (" + mode + ") failed: " + read_file(dir / "log.txt"));
  }
  ~HfRef() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::vector<int32_t> read_ids(const fs::path& p) {
  std::string raw = read_file(p);
  std::vector<int32_t> v(raw.size() / 4);
  std::memcpy(v.data(), raw.data(), v.size() * 4);
  return v;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// SmolLM2's vocabulary under SmolLM2's own pre-tokenizer (Sequence[Digits, ByteLevel]),
// Llama 3's (Split + ByteLevel(use_regex=false), ignore_merges) and Qwen2's (the same
// with single digits and an NFC normalizer): ids identical to tokenizers on >= 1 MB.
TEST(HfTokenizer, VariantsMatchHuggingFaceTokenizers) {
  HfRef ref("tokenizers");
  const std::string text = read_file(ref.dir / "text.txt");
  ASSERT_GE(text.size(), 1000000u);
  const std::pair<const char*, PreTokenization> variants[] = {
      {"smollm2", PreTokenization::Gpt2Digits}, {"llama3", PreTokenization::Llama3}, {"qwen2", PreTokenization::Qwen2}};
  for (auto [name, kind] : variants) {
    Tokenizer tok = Tokenizer::load(ref.dir / name / "tokenizer.json");
    EXPECT_EQ(tok.pre_tokenization(), kind) << name;
    std::vector<int32_t> want = read_ids(ref.dir / (std::string("ids-") + name + ".i32"));
    std::vector<int32_t> got = tok.encode_with_specials(text);
    size_t k = 0;
    while (k < std::min(want.size(), got.size()) && want[k] == got[k]) ++k;
    std::printf("%s: %zu bytes -> %zu ids (reference %zu); first difference at %zu\n", name, text.size(), got.size(),
                want.size(), k);
    EXPECT_EQ(got.size(), want.size()) << name;
    EXPECT_EQ(k, want.size()) << name;
    // save() writes the same configuration back.
    fs::path again = ref.dir / name / "again.json";
    tok.save(again);
    Tokenizer tok2 = Tokenizer::load(again);
    EXPECT_EQ(tok2.pre_tokenization(), kind) << name;
    EXPECT_EQ(tok2.encode_with_specials(text.substr(0, 200000)), tok.encode_with_specials(text.substr(0, 200000)))
        << name;
  }
}

// Configurations veritas does not implement are named, never approximated.
TEST(HfTokenizer, UnknownConfigurationsAreNamed) {
  const std::string vocab = R"("model": {"type": "BPE", "vocab": {"a": 0}, "merges": []})";
  auto err = [&](const std::string& rest) {
    return error_of([&] { Tokenizer::from_json("{" + vocab + ", " + rest + "}", "t.json"); });
  };
  std::string m = err(R"("pre_tokenizer": {"type": "Metaspace", "replacement": "_"})");
  EXPECT_NE(m.find("t.json: pre_tokenizer {\"replacement\":\"_\",\"type\":\"Metaspace\"} is not supported"),
            std::string::npos)
      << m;
  m = err(R"("pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\d+"},
          "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]})");
  EXPECT_NE(m.find("t.json: pre_tokenizer"), std::string::npos) << m;
  EXPECT_NE(m.find("\\\\d+"), std::string::npos) << m;
  m = err(R"("pre_tokenizer": {"type": "ByteLevel"}, "normalizer": {"type": "NFKC"})");
  EXPECT_NE(m.find("t.json: normalizer {\"type\":\"NFKC\"} is not supported"), std::string::npos) << m;
  m = err(R"("pre_tokenizer": {"type": "ByteLevel"}, "added_tokens": [{"id": 1, "content": "<x>", "lstrip": true}])");
  EXPECT_NE(m.find("t.json: added_tokens[0] (\"<x>\"): lstrip = true is not supported"), std::string::npos) << m;
}
