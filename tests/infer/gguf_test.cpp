// GGUF import against independent references (tests/reference/gguf_ref.py, run in the
// project's .venv): the `gguf` package's writer and numpy dequantization, Hugging Face
// transformers' forward pass and tokenizers. A missing package or model file fails.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/infer/engine.hpp"
#include "veritas/infer/gguf_model.hpp"
#include "veritas/infer/sampler.hpp"
#include "veritas/model/gguf.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/pretokenize.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "block_kernel_check.hpp"
#include "error_of.hpp"
#include "reference_run.hpp"

using namespace veritas;
using veritas::test::error_of;
using namespace veritas::infer;
using namespace veritas::reference;

namespace {

// tests/reference/gguf_ref.py; the tiny models (read by several cases) once per build.
struct RefDir : ReferenceRun {
  explicit RefDir(const std::string& mode, Cache c = Cache::None) : ReferenceRun("gguf_ref.py", mode, c) {}
};

const RefDir& tiny_ref() {
  static RefDir d("tiny", Cache::PerBuild);
  return d;
}

}  // namespace

TEST(Gguf, DequantizeMatchesGgufPackage) {
  const fs::path d = tiny_ref().dir;
  auto meta = nlohmann::json::parse(read_file(d / "tiny.json"));
  ASSERT_EQ(meta["blocks"].size(), 10u);
  for (auto& b : meta["blocks"]) {
    std::string name = b["type"];
    std::string raw = read_file(d / ("blocks_" + name + ".bin"));
    std::vector<float> ref = read_vec<float>(d / ("blocks_" + name + ".f32")), ours(ref.size());
    ASSERT_EQ(ref.size(), (size_t)b["n"].get<int>());
    const GgmlTypeInfo* info = ggml_type_info(b["id"].get<uint32_t>());
    ASSERT_NE(info, nullptr) << name;
    ASSERT_EQ(raw.size(), ref.size() / info->block * info->bytes) << name;
    dequantize((GgmlType)b["id"].get<uint32_t>(), raw.data(), (int64_t)ref.size(), ours.data());
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i)
      worst = std::max(worst, (double)std::fabs(ours[i] - ref[i]) / std::max(1e-6, (double)std::fabs(ref[i])));
    std::printf("%-5s max relative difference to gguf.quants.dequantize: %.3g\n", name.c_str(), worst);
    EXPECT_LE(worst, 1e-6) << name;  // same fp32 formula; only the operation order may differ
  }
}

TEST(Gguf, TinyModelsMatchTransformers) {
  const fs::path d = tiny_ref().dir;
  auto meta = nlohmann::json::parse(read_file(d / "tiny.json"));
  ASSERT_EQ(meta["models"].size(), 5u);
  for (auto& m : meta["models"]) {
    std::string name = m["name"];
    EngineOptions o;
    o.load_tokenizer = false;  // the tiny files carry no tokenizer
    Engine e = Engine::load(d / (name + ".gguf"), o);
    std::vector<int32_t> ids = m["ids"].get<std::vector<int32_t>>();
    const int V = e.config().vocab_size, n = (int)ids.size();
    std::vector<float> ref = read_vec<float>(d / (name + ".logits.f32")), ours((size_t)n * V);
    ASSERT_EQ(ref.size(), ours.size()) << name;
    KVCache c = e.new_cache();
    e.forward(c, ids.data(), n, ours.data(), true);
    double r = rel_err(ours.data(), ref.data(), ours.size());
    std::printf("%-18s (%s) max |err| / max |logit| = %.3g\n", name.c_str(), m["arch"].get<std::string>().c_str(), r);
    EXPECT_LE(r, 1e-4) << name;
  }
}

TEST(Gguf, BadInputIsAClearError) {
  const fs::path d = tiny_ref().dir;
  const std::string good = read_file(d / "tiny_llama_quant.gguf");
  GgufFile ok = GgufFile::parse(good.data(), good.size(), "t.gguf");
  ASSERT_FALSE(ok.tensors().empty());

  // Every truncation is an Error naming the file, never a crash.
  for (size_t n = 0; n < good.size(); n += (n < 4096 ? 1 : 9973)) {
    std::string msg = error_of([&] { GgufFile::parse(good.data(), n, "cut.gguf"); });
    ASSERT_NE(msg.find("cut.gguf"), std::string::npos) << "prefix " << n << ": " << msg;
  }

  // A tensor whose offset points past the end of the file.
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  std::vector<float> x(64, 1.0f);
  w.add_tensor("a", {64}, GgmlType::F32, x.data());
  std::string bytes = w.serialize();
  size_t at = bytes.find(std::string("\x01\0\0\0\0\0\0\0a", 9));  // the name "a"
  ASSERT_NE(at, std::string::npos);
  // name (8 + 1), n_dims (4), dims (8), type (4), then the offset.
  std::string bad = bytes;
  uint64_t off = 1ull << 40;
  std::memcpy(&bad[at + 9 + 4 + 8 + 4], &off, 8);
  EXPECT_NE(error_of([&] { GgufFile::parse(bad.data(), bad.size(), "off.gguf"); }).find("outside the file"),
            std::string::npos);
  // Unknown tensor type.
  bad = bytes;
  uint32_t type = 17;
  std::memcpy(&bad[at + 9 + 4 + 8], &type, 4);
  std::string msg = error_of([&] { GgufFile::parse(bad.data(), bad.size(), "type.gguf"); });
  EXPECT_NE(msg.find("type 17"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensor 'a'"), std::string::npos) << msg;
  // A string claiming 10 GB.
  bad = bytes;
  size_t key = bad.find("general.architecture");
  uint64_t huge = 10ull << 30;
  std::memcpy(&bad[key - 8], &huge, 8);
  msg = error_of([&] { GgufFile::parse(bad.data(), bad.size(), "huge.gguf"); });
  EXPECT_NE(msg.find("claimed string length 10737418240"), std::string::npos) << msg;

  // Metadata sizes that the tensors do not have: named, before 2^29 x 256 floats are
  // allocated for each MLP matrix.
  bad = good;
  const std::string ffn_key = "llama.feed_forward_length";
  size_t ffn = bad.find(ffn_key);
  ASSERT_NE(ffn, std::string::npos);
  uint32_t ffn_type = 0, ffn_size = 1u << 29;
  std::memcpy(&ffn_type, &bad[ffn + ffn_key.size()], 4);
  ASSERT_EQ(ffn_type, 4u);  // u32
  std::memcpy(&bad[ffn + ffn_key.size() + 4], &ffn_size, 4);
  GgufFile ffn_file = GgufFile::parse(bad.data(), bad.size(), "ffn.gguf");
  msg = error_of([&] { gguf_config(ffn_file); });
  EXPECT_NE(msg.find("ffn.gguf: tensor 'blk.0.ffn_down.weight' has shape"), std::string::npos) << msg;
  EXPECT_NE(msg.find("intermediate_size 536870912"), std::string::npos) << msg;

  // Unknown architecture.
  GgufWriter a;
  a.set_string("general.architecture", "mamba");
  std::string ab = a.serialize();
  GgufFile af = GgufFile::parse(ab.data(), ab.size(), "arch.gguf");
  msg = error_of([&] { gguf_config(af); });
  EXPECT_NE(msg.find("arch.gguf: general.architecture 'mamba' is not supported"), std::string::npos) << msg;

  // A tokenizer without merges.
  GgufWriter t;
  t.set_string("tokenizer.ggml.model", "gpt2");
  std::vector<std::string> toks;
  for (int b = 0; b < 256; ++b) toks.push_back(bpe::bytes_to_token_string(std::string(1, (char)b)));
  t.set_strings("tokenizer.ggml.tokens", toks);
  auto tokenizer_error = [&](const std::string& name) {
    const std::string b = t.serialize();
    GgufFile g = GgufFile::parse(b.data(), b.size(), name);
    return error_of([&] { gguf_tokenizer(g); });
  };

  // No pre-tokenizer, or llama.cpp's "default" split: named, not read as GPT-2's split.
  msg = tokenizer_error("nopre.gguf");
  EXPECT_NE(msg.find("nopre.gguf: tokenizer.ggml.pre is missing"), std::string::npos) << msg;
  t.set_string("tokenizer.ggml.pre", "default");
  msg = tokenizer_error("default.gguf");
  EXPECT_NE(msg.find("default.gguf: tokenizer.ggml.pre 'default' is not supported"), std::string::npos) << msg;

  t.set_string("tokenizer.ggml.pre", "gpt2");
  msg = tokenizer_error("tok.gguf");
  EXPECT_NE(msg.find("tok.gguf: missing metadata 'tokenizer.ggml.merges'"), std::string::npos) << msg;

  // An unknown pre-tokenizer is named.
  t.set_string("tokenizer.ggml.pre", "deepseek-coder");
  msg = tokenizer_error("pre.gguf");
  EXPECT_NE(msg.find("pre.gguf: tokenizer.ggml.pre 'deepseek-coder' is not supported"), std::string::npos) << msg;
  t.set_string("tokenizer.ggml.pre", "llama-bpe");

  // An unknown chat template is named, not guessed.
  t.set_strings("tokenizer.ggml.merges", {});
  t.set_string("tokenizer.chat_template", "{{ bos }}[INST] {{ m }} [/INST]");
  msg = tokenizer_error("tpl.gguf");
  EXPECT_NE(msg.find("unknown chat template"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[INST]"), std::string::npos) << msg;

  // Not a file at all.
  EXPECT_NE(error_of([] { GgufFile::open("/nonexistent/x.gguf"); }).find("/nonexistent/x.gguf"), std::string::npos);
}

TEST(Gguf, WriterRoundTrip) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 3);
  w.set_f32("llama.rope.freq_base", 500000.0f);
  std::vector<float> x(2 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin((float)i) * 3;
  w.add_tensor("f32", {64, 2}, GgmlType::F32, x.data());
  w.add_tensor("f16", {64, 2}, GgmlType::F16, x.data());
  w.add_tensor("q8", {64, 2}, GgmlType::Q8_0, x.data());
  std::string b = w.serialize();
  GgufFile f = GgufFile::parse(b.data(), b.size(), "rt.gguf");
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.block_count"), 3);
  EXPECT_EQ(f.get_float_or("llama.rope.freq_base", 0), 500000.0);
  std::vector<float> y(x.size());
  f.read_f32("f32", (int64_t)x.size(), y.data());
  EXPECT_EQ(x, y);
  f.read_f32("f16", (int64_t)x.size(), y.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 3 * 1e-3);
  f.read_f32("q8", (int64_t)x.size(), y.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 3.0 / 127 * 0.51 + 1e-3);
}

TEST(SmolLM2, LogitsAndGreedyMatchTransformers) {
  RefDir ref("model");
  auto meta = nlohmann::json::parse(read_file(ref.dir / "model.json"));
  Engine e = Engine::load(meta["model"].get<std::string>());
  const int V = e.config().vocab_size;
  ASSERT_EQ(meta["prompts"].size(), 5u);
  int i = 0;
  for (auto& p : meta["prompts"]) {
    std::vector<int32_t> ids = p["ids"].get<std::vector<int32_t>>();
    const int n = (int)ids.size();
    std::vector<float> ref_logits = read_vec<float>(ref.dir / ("logits" + std::to_string(i++) + ".f32"));
    std::vector<float> ours((size_t)n * V);
    ASSERT_EQ(ref_logits.size(), ours.size());
    KVCache c = e.new_cache();
    e.forward(c, ids.data(), n, ours.data(), true);
    double r = rel_err(ours.data(), ref_logits.data(), ours.size());
    SamplingOptions so;
    so.temperature = 0;
    so.max_tokens = 64;
    so.stop_at_end_tokens = false;
    Generation g = e.generate(ids, so);
    std::vector<int32_t> want = p["greedy"].get<std::vector<int32_t>>();
    int same = 0;
    while (same < (int)std::min(want.size(), g.tokens.size()) && want[same] == g.tokens[same]) ++same;
    std::printf("prompt %d (%d tokens): max |err| / max |logit| = %.3g; greedy: %d of 64 tokens identical\n", i - 1, n,
                r, same);
    EXPECT_LE(r, 1e-3);
    EXPECT_EQ(g.tokens, want);
  }
}

// The block kernels (--precision gguf) against llama.cpp (llama-cpp-python, built by
// scripts/setup) on the same Q4_1 file, each engine with the same KV-cache type. Both
// quantize activations to 8 bits per block of 32 (the same values; llama.cpp keeps the
// block scales in fp16) and accumulate in different orders, so a near-tie may go either
// way: on this mixed text (code, Chinese, digits) the exact model's top-2 are within 1% of
// the logit scale at about 15% of the positions. llama.cpp disagrees with itself about as
// often: with an fp16 cache and with an fp32 one at about 3.6% of them, and with the same
// fp32 cache fed in one batch and one token at a time at about 4%.
namespace {

struct LlamaCppAgreement {
  int positions = 0, same = 0, clear = 0, clear_same = 0, ours_exact = 0, theirs_exact = 0;
  double worst = 0;  // largest gap (share of the logit scale) where the top-1 differ
  int identical_prompts = 0, fed_same = 0, fed_steps = 0;
  double fed_worst = 0;
};

LlamaCppAgreement agree_with_llamacpp(const nlohmann::json& meta, const std::string& cache_key, KVType kv) {
  const nlohmann::json& run = meta[cache_key];
  EngineOptions o;
  o.precision = Precision::GGUF;
  o.kv_cache = kv;
  Engine e = Engine::load(meta["model"].get<std::string>(), o);
  const int V = e.config().vocab_size;
  std::vector<int32_t> ids = meta["ids"].get<std::vector<int32_t>>();
  std::vector<int32_t> top1 = run["top1"].get<std::vector<int32_t>>();
  std::vector<int32_t> exact = meta["exact_top1"].get<std::vector<int32_t>>();
  std::vector<double> margin = meta["exact_margin"].get<std::vector<double>>();
  const int n = (int)ids.size();
  LlamaCppAgreement r;
  r.positions = n;
  EXPECT_GE(n, 1000);
  EXPECT_EQ(top1.size(), ids.size());
  EXPECT_EQ(exact.size(), ids.size());
  EXPECT_EQ(margin.size(), ids.size());
  if (n < 1000 || top1.size() != ids.size() || exact.size() != ids.size() || margin.size() != ids.size()) return r;
  std::vector<float> logits((size_t)n * V);
  KVCache c = e.new_cache();
  e.forward(c, ids.data(), n, logits.data(), true);
  // The gap between our top-1 and `other` in one row, as a share of the row's scale.
  auto gap = [&](const float* row, int32_t other) {
    float scale = 0;
    for (int v = 0; v < V; ++v) scale = std::max(scale, std::fabs(row[v]));
    return (row[argmax(row, V)] - row[other]) / scale;
  };
  for (int t = 0; t < n; ++t) {
    const float* row = logits.data() + (size_t)t * V;
    const bool agree = argmax(row, V) == top1[t];
    r.same += agree;
    r.ours_exact += argmax(row, V) == exact[t];
    r.theirs_exact += top1[t] == exact[t];
    if (margin[t] >= 0.02) r.clear++, r.clear_same += agree;
    if (!agree) r.worst = std::max(r.worst, (double)gap(row, top1[t]));
  }
  std::printf("%s: top-1 agreement with llama.cpp: %d of %d positions (%.2f%%); where the exact model decides "
              "clearly (margin >= 2%%): %d of %d (%.2f%%); largest gap where not: %.3g of the logit scale\n",
              cache_key.c_str(), r.same, n, 100.0 * r.same / n, r.clear_same, r.clear, 100.0 * r.clear_same / r.clear,
              r.worst);
  std::printf("%s: top-1 agreement with the exact model (transformers fp32): ours %.2f%%, llama.cpp's %.2f%%\n",
              cache_key.c_str(), 100.0 * r.ours_exact / n, 100.0 * r.theirs_exact / n);

  if (!run.contains("prompts")) return r;  // a run of the positions alone
  EXPECT_EQ(run["prompts"].size(), 5u);
  for (auto& p : run["prompts"]) {
    std::vector<int32_t> prompt = p["ids"].get<std::vector<int32_t>>();
    std::vector<int32_t> want = p["greedy"].get<std::vector<int32_t>>();
    EXPECT_EQ(want.size(), 64u);
    if (want.size() != 64u) continue;
    SamplingOptions so;
    so.temperature = 0;
    so.max_tokens = 64;
    so.stop_at_end_tokens = false;
    Generation g = e.generate(prompt, so);
    int k = 0;
    while (k < (int)std::min(want.size(), g.tokens.size()) && want[k] == g.tokens[k]) ++k;
    r.identical_prompts += g.tokens == want;
    // Teacher-forced on llama.cpp's continuation: the logits before each of its tokens.
    std::vector<int32_t> seq = prompt;
    seq.insert(seq.end(), want.begin(), want.end() - 1);
    const int m = (int)seq.size(), p0 = (int)prompt.size() - 1;
    std::vector<float> l((size_t)m * V);
    KVCache pc = e.new_cache();
    e.forward(pc, seq.data(), m, l.data(), true);
    int agree = 0;
    double worst = 0;
    for (int j = 0; j < 64; ++j) {
      const float* row = l.data() + (size_t)(p0 + j) * V;
      if (argmax(row, V) == want[j]) {
        ++agree;
        continue;
      }
      worst = std::max(worst, (double)gap(row, want[j]));
    }
    r.fed_same += agree, r.fed_steps += 64, r.fed_worst = std::max(r.fed_worst, worst);
    std::printf("%s, prompt (%d tokens): free greedy identical for %d of 64 tokens; fed llama.cpp's tokens, same "
                "argmax %d of 64 (largest gap where not: %.3g of the logit scale)\n",
                cache_key.c_str(), (int)prompt.size(), k, agree, worst);
  }
  std::printf("%s: greedy text identical to llama.cpp's on %d of 5 prompts\n", cache_key.c_str(),
              r.identical_prompts);
  return r;
}

}  // namespace

// The bar of 99% top-1 agreement on every position is above what llama.cpp
// reaches against itself when only its cache precision or its batching changes, so each
// side is held to that: (1) at every position where the exact model decides clearly, the
// same top-1 as llama.cpp (>= 99%); (2) overall, at least llama.cpp's own agreement
// between two of its runs (the lower of fp16 vs fp32 cache, and one batch vs one token
// at a time) less one point; (3) every disagreement a near-tie in our logits (within 3%
// of the scale; the fp16 cache adds its rounding to the activation quantization's).
// veritas gives the same logits however its input is batched (EngineTest).
TEST(SmolLM2, BlockKernelsAgreeWithLlamaCpp) {
  RefDir ref("llamacpp");
  auto meta = nlohmann::json::parse(read_file(ref.dir / "llamacpp.json"));
  auto top1 = [&](const char* key) { return meta[key]["top1"].get<std::vector<int32_t>>(); };
  auto same_pct = [](const std::vector<int32_t>& x, const std::vector<int32_t>& y) {
    EXPECT_EQ(x.size(), y.size());
    int same = 0;
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) same += x[i] == y[i];
    return 100.0 * same / (double)std::max<size_t>(1, x.size());
  };
  const double cache_pct = same_pct(top1("f16_cache"), top1("f32_cache"));
  const double batch_pct = same_pct(top1("f32_cache"), top1("f32_cache_one_by_one"));
  std::printf("llama.cpp against itself, same top-1: fp16 vs fp32 cache %.2f%%; one batch vs one token at a time "
              "(fp32 cache) %.2f%% of %zu positions\n",
              cache_pct, batch_pct, top1("f32_cache").size());
  const double self_pct = std::min(cache_pct, batch_pct);
  {  // ours (the same logits however batched) against llama.cpp fed one token at a time
    LlamaCppAgreement r = agree_with_llamacpp(meta, "f32_cache_one_by_one", KVType::F32);
    EXPECT_GE(100.0 * r.same / r.positions, self_pct - 1.0) << "one by one";
    EXPECT_GE(r.clear_same * 100, r.clear * 99) << "one by one";
  }
  for (auto [key, kv] : {std::pair{"f32_cache", KVType::F32}, std::pair{"f16_cache", KVType::F16}}) {
    LlamaCppAgreement r = agree_with_llamacpp(meta, key, kv);
    EXPECT_GE(r.clear, r.positions / 2) << key;
    EXPECT_GE(r.clear_same * 100, r.clear * 99) << key;
    EXPECT_GE(100.0 * r.same / r.positions, self_pct - 1.0) << key;
    EXPECT_LE(r.worst, 0.03) << key;
    EXPECT_LE(r.fed_worst, 0.03) << key;
  }
}

TEST(SmolLM2, TokenizerAndChatTemplateMatchHuggingFace) {
  RefDir ref("tokenizer");
  GgufFile f = GgufFile::open(smollm_path());
  Tokenizer tok = gguf_tokenizer(f);
  const std::string text = read_file(ref.dir / "text.txt");
  ASSERT_GE(text.size(), 1000000u);
  std::vector<int32_t> want = read_vec<int32_t>(ref.dir / "ids.i32");
  std::vector<int32_t> got = tok.encode_with_specials(text);
  size_t first = 0;
  while (first < std::min(want.size(), got.size()) && want[first] == got[first]) ++first;
  std::printf("%zu bytes -> %zu ids (reference %zu); first difference at %zu\n", text.size(), got.size(), want.size(),
              first);
  EXPECT_EQ(got.size(), want.size());
  EXPECT_EQ(first, want.size());
  EXPECT_EQ(tok.decode(got), text);

  // The same vocabulary under the Llama 3 ("llama-bpe") and Qwen2 pre-tokenizers, as
  // tokenizers' Split(pattern) + ByteLevel(use_regex=false) cuts the text.
  for (std::string pre : {"llama-bpe", "qwen2"}) {
    auto pt = gguf_pre_tokenization(pre);
    ASSERT_TRUE(pt.has_value()) << pre;
    tok.set_pre_tokenization(*pt);
    std::vector<int32_t> want_pre = read_vec<int32_t>(ref.dir / ("ids-" + pre + ".i32"));
    std::vector<int32_t> got_pre = tok.encode_with_specials(text);
    size_t k = 0;
    while (k < std::min(want_pre.size(), got_pre.size()) && want_pre[k] == got_pre[k]) ++k;
    std::printf("%s: %zu ids (reference %zu); first difference at %zu\n", pre.c_str(), got_pre.size(),
                want_pre.size(), k);
    EXPECT_EQ(got_pre.size(), want_pre.size()) << pre;
    EXPECT_EQ(k, want_pre.size()) << pre;
    EXPECT_EQ(tok.decode(got_pre), text) << pre;

    std::vector<int32_t> want_len = read_vec<int32_t>(ref.dir / ("pieces-" + pre + ".i32"));
    bpe::PreTokenizer cut(text, pre == "qwen2" ? bpe::Pattern::Qwen2 : bpe::Pattern::Llama3);
    std::string_view piece;
    size_t np = 0, same = 0;
    bool diverged = false;
    while (cut.next(piece)) {
      if (!diverged && np < want_len.size() && (int32_t)piece.size() == want_len[np]) ++same;
      else diverged = true;
      ++np;
    }
    std::printf("%s: %zu pieces (reference %zu), %zu identical before the first difference\n", pre.c_str(), np,
                want_len.size(), same);
    EXPECT_EQ(np, want_len.size()) << pre;
    EXPECT_EQ(same, want_len.size()) << pre;
  }
  EXPECT_FALSE(gguf_pre_tokenization("deepseek-llm").has_value());
  tok.set_pre_tokenization(PreTokenization::Gpt2Digits);

  auto chats = nlohmann::json::parse(read_file(ref.dir / "chat.json"));
  ASSERT_EQ(chats.size(), 4u);
  ChatTemplate t = chat_template_of(tok);
  EXPECT_EQ(t.format, ChatFormat::ChatML);
  for (auto& c : chats) {
    std::vector<ChatMessage> msgs;
    for (auto& m : c["messages"]) msgs.push_back({m["role"], m["content"]});
    bool gen = c["add_generation_prompt"];
    EXPECT_EQ(chat_text(t, msgs, gen), c["text"].get<std::string>());
    EXPECT_EQ(chat_tokens(tok, msgs, gen), c["ids"].get<std::vector<int32_t>>()) << c["text"].get<std::string>();
  }
}

// Block kernels (Q8_0, Q4_0, Q4_1, Q5_0 read directly) against dequantize-then-fp64 on the same
// quantized activations, on every instruction set this CPU runs. The integer part is
// exact; fp32 accumulation over k blocks can differ from the fp64 sum by about
// k * 2^-24 * sum |w x|, so the bound is 1e-6 of sum |w x| (k <= 48 here).
namespace {

void check_blocks(const QMatrix& W, const std::string& what) {
  const int T = 3, rows = W.rows(), cols = W.cols();
  const std::vector<float> x = random_acts(T, cols, 12345);
  QuantActs qa;
  qa.quantize(x.data(), T, cols, cols);
  std::vector<float> row(cols);
  std::vector<double> ref((size_t)T * rows), mag((size_t)T * rows);
  for (int r = 0; r < rows; ++r) {
    W.row_f32(r, row.data());
    for (int t = 0; t < T; ++t) {
      double s = 0, m = 0;
      for (int c = 0; c < cols; ++c) {
        double xv = (double)qa.q[(size_t)t * qa.blocks * kQBlock + c] * qa.scale[(size_t)t * qa.blocks + c / kQBlock];
        s += (double)row[c] * xv;
        m += std::fabs((double)row[c] * xv);
      }
      ref[(size_t)t * rows + r] = s, mag[(size_t)t * rows + r] = m;
    }
  }
  on_every_isa(
      W, qa, T,
      [&](const std::string& isa, const std::vector<float>& y) {
        double worst = 0;
        for (size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::fabs(y[i] - ref[i]) / (mag[i] + 1e-30));
        std::printf("%-28s %-12s max |err| / sum|w x| = %.3g\n", what.c_str(), isa.c_str(), worst);
        EXPECT_LE(worst, 1e-6) << what << " " << isa;
      },
      what);
}

}  // namespace

TEST(BlockKernels, RandomBlocksMatchDequantizedReference) {
  const int rows = 37, cols = 1536;
  for (Precision p : {Precision::Q8_0, Precision::Q4_0, Precision::Q4_1, Precision::Q5_0}) {
    const int bb = p == Precision::Q8_0 ? 34 : p == Precision::Q4_0 ? 18 : p == Precision::Q5_0 ? 22 : 20;
    // Finite scales of either sign (and Q4_1's minimum) at the start of each block.
    const std::vector<size_t> scales = p == Precision::Q4_1 ? std::vector<size_t>{0, 2} : std::vector<size_t>{0};
    const std::vector<uint8_t> raw = random_blocks(rows, cols, 32, bb, 99 + (int)p, scales, [](Lcg& g) {
      return ((float)(g.next() % 2000) - 1000.0f) * 1e-5f;
    });
    const QMatrix W = QMatrix::from_blocks(raw.data(), rows, cols, p);
    check_blocks(W, std::string("random ") + precision_name(p));
    // Every row read back (these types are stored as groups of 16 interleaved rows, the
    // last of these 37 padded) is the row as given.
    const GgmlType t = p == Precision::Q8_0 ? GgmlType::Q8_0 : p == Precision::Q4_0 ? GgmlType::Q4_0
                       : p == Precision::Q5_0 ? GgmlType::Q5_0 : GgmlType::Q4_1;
    std::vector<float> mine(cols), want(cols);
    for (int r = 0; r < rows; ++r) {
      W.row_f32(r, mine.data());
      dequantize(t, raw.data() + (size_t)r * (cols / 32) * bb, cols, want.data());
      ASSERT_EQ(mine, want) << precision_name(p) << " row " << r;
    }
  }
}

TEST(BlockKernels, SmolLM2TensorsMatchDequantizedReference) {
  GgufFile f = GgufFile::open(smollm_path());
  for (const char* name : {"blk.0.attn_q.weight", "blk.7.ffn_down.weight", "blk.29.ffn_gate.weight", "token_embd.weight"}) {
    const GgufTensor* t = f.find(name);
    ASSERT_NE(t, nullptr) << name;
    Precision p = t->type == (uint32_t)GgmlType::Q8_0 ? Precision::Q8_0 : Precision::Q4_1;
    ASSERT_TRUE(t->type == (uint32_t)GgmlType::Q8_0 || t->type == (uint32_t)GgmlType::Q4_1) << name;
    int rows = (int)std::min<int64_t>(t->dims[1], 512);  // the first 512 rows of the embedding
    const int cols = (int)t->dims[0];
    QMatrix W = QMatrix::from_blocks(f.data(*t), rows, cols, p);
    check_blocks(W, name);
    // A row read from the blocks (the embedding lookup of --precision gguf) is exactly the
    // file's dequantized row (what the fp32 path loads).
    const size_t rb = (size_t)cols / 32 * (p == Precision::Q8_0 ? 34 : 20);
    std::vector<float> mine(cols), want(cols);
    for (int r : {0, 1, rows / 2, rows - 1}) {
      W.row_f32(r, mine.data());
      dequantize((GgmlType)t->type, f.data(*t) + (size_t)r * rb, cols, want.data());
      EXPECT_EQ(mine, want) << name << " row " << r;
    }
  }
}

// Gemma 3 270M's Q5_0 matrices (attn_q/attn_k/ffn_gate/ffn_up) read as blocks; a row read
// from the blocks is exactly the file's dequantized row.
TEST(BlockKernels, Gemma3Q5_0TensorsMatchDequantizedReference) {
  GgufFile f = GgufFile::open(gemma_path());
  for (const char* name : {"blk.0.attn_q.weight", "blk.5.attn_k.weight", "blk.11.ffn_gate.weight", "blk.17.ffn_up.weight"}) {
    const GgufTensor* t = f.find(name);
    ASSERT_NE(t, nullptr) << name;
    ASSERT_EQ(t->type, (uint32_t)GgmlType::Q5_0) << name;
    const int rows = (int)std::min<int64_t>(t->dims[1], 512), cols = (int)t->dims[0];
    QMatrix W = QMatrix::from_blocks(f.data(*t), rows, cols, Precision::Q5_0);
    check_blocks(W, name);
    const size_t rb = (size_t)cols / 32 * 22;
    std::vector<float> mine(cols), want(cols);
    for (int r : {0, rows / 2, rows - 1}) {
      W.row_f32(r, mine.data());
      dequantize(GgmlType::Q5_0, f.data(*t) + (size_t)r * rb, cols, want.data());
      EXPECT_EQ(mine, want) << name << " row " << r;
    }
  }
}

// The whole model on the block kernels (--precision gguf): the tiny GGUFs against
// transformers on the dequantized weights. Activations are quantized to 8 bits per block
// of 32 (as llama.cpp does), so the logits differ by about 1% of their scale; the
// argmax agrees at nearly every position. F16 matrices read fp32 activations: a model of
// F16 matrices only matches as fp32 does. A prompt in one pass equals token by token.
TEST(Gguf, TinyModelsOnBlockKernels) {
  const fs::path d = tiny_ref().dir;
  auto meta = nlohmann::json::parse(read_file(d / "tiny.json"));
  for (auto& m : meta["models"]) {
    std::string name = m["name"];
    EngineOptions o;
    o.load_tokenizer = false;
    o.precision = Precision::GGUF;
    Engine e = Engine::load(d / (name + ".gguf"), o);
    std::vector<int32_t> ids = m["ids"].get<std::vector<int32_t>>();
    const int V = e.config().vocab_size, n = (int)ids.size();
    std::vector<float> ref = read_vec<float>(d / (name + ".logits.f32")), ours((size_t)n * V), steps((size_t)n * V);
    KVCache c = e.new_cache(), s = e.new_cache();
    e.forward(c, ids.data(), n, ours.data(), true);
    for (int t = 0; t < n; ++t) e.forward(s, &ids[t], 1, steps.data() + (size_t)t * V);
    EXPECT_EQ(ours, steps) << name;
    int same = 0;
    for (int t = 0; t < n; ++t) same += argmax(ours.data() + (size_t)t * V, V) == argmax(ref.data() + (size_t)t * V, V);
    double r = rel_err(ours.data(), ref.data(), ours.size());
    std::printf("%-18s gguf blocks: max |err| / max |logit| = %.3g, same argmax %d/%d\n", name.c_str(), r, same, n);
    // Only F32 and F16 tensors: no activation quantization, so as close as fp32.
    bool exact = true;
    for (auto& t : m["types"]) exact = exact && (t == "F32" || t == "F16");
    EXPECT_LE(r, exact ? 1e-4 : 3e-2) << name;
    EXPECT_GE(same, exact ? n : n * 9 / 10) << name;
    if (exact && m["types"][0] == "F16") {
      // The halves are kept (2 bytes a weight), not widened; the F16 kernel sums in the
      // fp32 kernel's order (cols a multiple of 16), so the logits are those of fp32.
      EngineOptions o32 = o;
      o32.precision = Precision::F32;
      Engine e32 = Engine::load(d / (name + ".gguf"), o32);
      EXPECT_LT(e.weight_bytes_per_token() * 10, e32.weight_bytes_per_token() * 6) << name;
      std::vector<float> f32((size_t)n * V);
      KVCache c32 = e32.new_cache();
      e32.forward(c32, ids.data(), n, f32.data(), true);
      EXPECT_EQ(ours, f32) << name;
    }
  }
}
