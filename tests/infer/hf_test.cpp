// Hugging Face formats against independent references (tests/reference/hf_ref.py, run in
// the project's .venv): tokenizer.json variants against Hugging Face tokenizers; tiny
// random Llama / Qwen2 directories and SmolLM2 (dequantized from its GGUF) written by
// transformers' save_pretrained against transformers' logits and greedy decoding, and
// SmolLM2's directory against the GGUF path. A missing package or model file fails.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include <cmath>

#include <nlohmann/json.hpp>

#include "veritas/infer/engine.hpp"
#include "veritas/infer/perplexity.hpp"
#include "veritas/infer/sampler.hpp"
#include "veritas/model/safetensors.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "error_of.hpp"
#include "reference_run.hpp"

using namespace veritas;
using veritas::test::error_of;
using namespace veritas::infer;
using namespace veritas::reference;

namespace {

// tests/reference/hf_ref.py; the models (read by four cases) once per build.
struct HfRef : ReferenceRun {
  explicit HfRef(const std::string& mode, Cache c = Cache::None) : ReferenceRun("hf_ref.py", mode, c) {}
};

const HfRef& models_ref() {
  static HfRef d("models", Cache::PerBuild);
  return d;
}

// Loads directory `name` of the models reference; checks tokenization, logits of every
// position (max error relative to the largest logit <= 1e-3) and 32 greedy tokens.
void check_dir(const std::string& name) {
  const fs::path d = models_ref().dir;
  Engine e = Engine::load(d / name);
  ASSERT_TRUE(e.tokenizer() != nullptr) << name;
  auto meta = nlohmann::json::parse(read_file(d / (name + ".json")));
  const int V = e.config().vocab_size;
  ASSERT_EQ(meta["prompts"].size(), 5u);
  int i = 0;
  double worst = 0;
  for (auto& p : meta["prompts"]) {
    std::vector<int32_t> ids = p["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(e.tokenizer()->encode_with_specials(p["prompt"].get<std::string>()), ids) << name << " " << p["prompt"];
    const int n = (int)ids.size();
    std::vector<float> ref = read_vec<float>(d / (name + "-logits" + std::to_string(i++) + ".f32"));
    std::vector<float> ours((size_t)n * V);
    ASSERT_EQ(ref.size(), ours.size()) << name;
    KVCache c = e.new_cache();
    e.forward(c, ids.data(), n, ours.data(), true);
    double r = rel_err(ours.data(), ref.data(), ours.size());
    worst = std::max(worst, r);
    SamplingOptions so;
    so.temperature = 0;
    so.max_tokens = 32;
    so.stop_at_end_tokens = false;
    Generation g = e.generate(ids, so);
    std::vector<int32_t> want = p["greedy"].get<std::vector<int32_t>>();
    EXPECT_LE(r, 1e-3) << name << " prompt " << i - 1;
    EXPECT_EQ(g.tokens, want) << name << " prompt " << i - 1;
  }
  std::printf("%s: max |err| / max |logit| over 5 prompts = %.3g\n", name.c_str(), worst);
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
    std::vector<int32_t> want = read_vec<int32_t>(ref.dir / (std::string("ids-") + name + ".i32"));
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

TEST(HfDir, TinyLlamaBf16MatchesTransformers) { check_dir("llama"); }
TEST(HfDir, TinyQwen2ShardedMatchesTransformers) {
  check_dir("qwen2");
  Engine e = Engine::load(models_ref().dir / "qwen2");
  EXPECT_TRUE(e.config().attention_bias);
}

// SmolLM2 as a Hugging Face directory (its GGUF dequantized by transformers): the same
// logits as transformers and as veritas's own GGUF path; ChatML template and eos loaded.
TEST(HfDir, SmolLM2MatchesTransformersAndGguf) {
  check_dir("smollm2");
  const fs::path d = models_ref().dir;
  Engine dir = Engine::load(d / "smollm2"), gguf = Engine::load(smollm_path());
  auto meta = nlohmann::json::parse(read_file(d / "smollm2.json"));
  const int V = dir.config().vocab_size;
  for (auto& p : meta["prompts"]) {
    std::vector<int32_t> ids = p["ids"].get<std::vector<int32_t>>();
    const int n = (int)ids.size();
    std::vector<float> a((size_t)n * V), b((size_t)n * V);
    KVCache ca = dir.new_cache(), cb = gguf.new_cache();
    dir.forward(ca, ids.data(), n, a.data(), true);
    gguf.forward(cb, ids.data(), n, b.data(), true);
    double r = rel_err(a.data(), b.data(), a.size());
    std::printf("directory vs GGUF, %d tokens: max |err| / max |logit| = %.3g\n", n, r);
    EXPECT_LE(r, 1e-3);
  }
  EXPECT_EQ(chat_template_of(*dir.tokenizer()).format, ChatFormat::ChatML);
  EXPECT_EQ(dir.tokenizer()->eos_id(), dir.tokenizer()->token_id("<|im_end|>"));
}

// Broken directories: each error names the file and the field.
TEST(HfDir, BadDirectoriesAreClearErrors) {
  const fs::path src = models_ref().dir / "qwen2";
  const fs::path d = make_temp_dir("hf-bad");
  auto fresh = [&] {
    fs::remove_all(d / "m");
    fs::copy(src, d / "m", fs::copy_options::recursive);
    return d / "m";
  };
  auto edit_config = [&](const std::function<void(nlohmann::json&)>& f) {
    fs::path m = fresh();
    auto j = nlohmann::json::parse(read_file(m / "config.json"));
    f(j);
    atomic_write_file(m / "config.json", j.dump());
    return m;
  };
  auto load_err = [&](const fs::path& m) { return error_of([&] { Engine::load(m); }); };

  fs::path m = edit_config([](nlohmann::json& j) { j.erase("hidden_size"); });
  std::string msg = load_err(m);
  EXPECT_NE(msg.find((m / "config.json").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing field \"hidden_size\""), std::string::npos) << msg;

  m = edit_config([](nlohmann::json& j) { j["architectures"] = {"MambaForCausalLM"}; });
  msg = load_err(m);
  EXPECT_NE(msg.find("config.json: architectures 'MambaForCausalLM' is not supported"), std::string::npos) << msg;

  m = edit_config([](nlohmann::json& j) { j["intermediate_size"] = 128; });  // every MLP tensor's shape is wrong
  msg = load_err(m);
  EXPECT_NE(msg.find(".safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mlp."), std::string::npos) << msg;

  // Sizes the tensors do not have are named before anything is allocated from them (here
  // 2^29 x hidden floats per MLP matrix, or a million layers).
  m = edit_config([](nlohmann::json& j) { j["intermediate_size"] = 1 << 29; });
  msg = load_err(m);
  EXPECT_NE(msg.find("tensor 'model.layers.0.mlp.down_proj.weight' has shape"), std::string::npos) << msg;
  EXPECT_NE(msg.find("intermediate_size 536870912"), std::string::npos) << msg;
  m = edit_config([](nlohmann::json& j) { j["num_hidden_layers"] = 1000000; });
  msg = load_err(m);
  EXPECT_NE(msg.find("missing tensor 'model.layers.999999.input_layernorm.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("num_hidden_layers 1000000"), std::string::npos) << msg;

  m = fresh();
  fs::remove(m / "model-00002-of-00002.safetensors");
  msg = load_err(m);
  EXPECT_NE(msg.find("model.safetensors.index.json: weight_map[\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("model-00002-of-00002.safetensors, which is missing"), std::string::npos) << msg;

  m = fresh();
  {
    std::string raw = read_file(m / "model-00001-of-00002.safetensors");
    atomic_write_file(m / "model-00001-of-00002.safetensors", raw.substr(0, raw.size() - 100));
  }
  msg = load_err(m);
  EXPECT_NE(msg.find("model-00001-of-00002.safetensors"), std::string::npos) << msg;

  m = fresh();
  fs::remove(m / "model.safetensors.index.json");
  msg = load_err(m);
  EXPECT_NE(msg.find("model.safetensors: missing"), std::string::npos) << msg;

  m = edit_config([](nlohmann::json& j) { j["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; });
  msg = load_err(m);
  EXPECT_NE(msg.find("config.json: rope_parameters"), std::string::npos) << msg;
  fs::remove_all(d);
}

// Perplexity: the negative log-likelihood of each prompt under the tiny models equals the
// one computed (in double) from transformers' own logits, to 1e-4 of its value; windows
// are independent runs; bad arguments are errors.
TEST(Perplexity, MatchesTransformersLogits) {
  const fs::path d = models_ref().dir;
  for (const std::string name : {"llama", "qwen2"}) {
    Engine e = Engine::load(d / name);
    const int V = e.config().vocab_size;
    auto meta = nlohmann::json::parse(read_file(d / (name + ".json")));
    int i = 0;
    for (auto& p : meta["prompts"]) {
      std::vector<int32_t> ids = p["ids"].get<std::vector<int32_t>>();
      std::vector<float> ref = read_vec<float>(d / (name + "-logits" + std::to_string(i++) + ".f32"));
      const int n = (int)ids.size();
      ASSERT_EQ(ref.size(), (size_t)n * V);
      if (n < 4) continue;
      std::vector<double> nll(n - 1);  // -log p(ids[t + 1] | ids[0..t]) from transformers' logits
      for (int t = 0; t + 1 < n; ++t) {
        const float* row = ref.data() + (size_t)t * V;
        double mx = row[0], sum = 0;
        for (int v = 1; v < V; ++v) mx = std::max(mx, (double)row[v]);
        for (int v = 0; v < V; ++v) sum += std::exp((double)row[v] - mx);
        nll[t] = std::log(sum) + mx - row[ids[t + 1]];
      }
      double want = 0;
      for (double x : nll) want += x;
      PerplexityResult r = perplexity(e, ids, n);
      EXPECT_EQ(r.tokens_scored, n - 1);
      EXPECT_EQ(r.windows, 1);
      EXPECT_NEAR(r.nll_sum, want, 1e-4 * want) << name << " prompt " << i - 1;
      EXPECT_NEAR(r.perplexity(), std::exp(want / (n - 1)), 1e-4 * r.perplexity());
      // Windows of h tokens: the first sees the same context as the full run, so its part
      // of the reference; the whole equals each window scored on its own.
      const int h = std::max(2, n / 2);
      PerplexityResult w = perplexity(e, ids, h);
      double first = 0, sum = 0;
      int64_t scored = 0;
      for (int t = 0; t + 1 < h; ++t) first += nll[t];
      for (int s0 = 0; s0 < n; s0 += h) {
        const int len = std::min(h, n - s0);
        if (len < 2) continue;
        PerplexityResult part = perplexity(e, std::vector<int32_t>(ids.begin() + s0, ids.begin() + s0 + len), len);
        if (s0 == 0) EXPECT_NEAR(part.nll_sum, first, 1e-4 * first) << name;
        sum += part.nll_sum, scored += part.tokens_scored;
      }
      EXPECT_EQ(w.tokens_scored, scored) << name;
      EXPECT_GE(w.windows, 2) << name;
      EXPECT_NEAR(w.nll_sum, sum, 1e-9 * sum) << name;
    }
  }
  Engine e = Engine::load(d / "llama");
  EXPECT_NE(error_of([&] { perplexity(e, {1, 2, 3}, 1); }).find("at least 2 tokens"), std::string::npos);
  EXPECT_NE(error_of([&] { perplexity(e, {1}, 8); }).find("fewer than 2 tokens"), std::string::npos);
  EXPECT_NE(error_of([&] { perplexity(e, {1, 1 << 30}, 8); }).find("outside the vocabulary"), std::string::npos);
}
