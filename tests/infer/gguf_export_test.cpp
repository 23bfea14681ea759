// `veritas export --gguf` against llama.cpp (llama-cpp-python, tests/reference/gguf_export_ref.py):
// a small model trained here until its predictions are confident, exported as F32, F16 and
// Q8_0, decoded greedily by llama.cpp from token ids and by veritas. A missing llama_cpp
// fails the test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/infer/engine.hpp"
#include "veritas/infer/gguf_export.hpp"
#include "veritas/infer/sampler.hpp"
#include "veritas/model/gguf.hpp"
#include "veritas/model/model.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/train.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"
#include "byte_tokenizer.hpp"

using namespace veritas;
using namespace veritas::infer;

namespace {

const char* kText =
    "The river runs past the old mill, and the miller counts his sacks of grain: 12 on Monday, 31 on Tuesday. "
    "Children play by the water while the bells ring at noon. She said, \"we'll meet at the bridge\" and they "
    "did. Every evening the lamps are lit one by one along the road to the town, where bakers sell bread "
    "and honey cakes to travellers who've walked all day. The mill's wheel turns slowly; its song is old. ";

constexpr int kGen = 40;  // greedy tokens per prompt

struct Fixture {
  fs::path dir;
  ModelConfig cfg;
  Tokenizer tok;
  std::vector<std::vector<int32_t>> prompts;
  nlohmann::json ref;  // llama.cpp's results per file type

  Fixture() {
    dir = make_temp_dir("gguf-export");
    BpeTrainer bt;
    for (int i = 0; i < 4; ++i) bt.add_text(kText);
    tok = bt.train(256 + 96 + (int)default_special_tokens().size(), default_special_tokens());
    cfg.vocab_size = tok.vocab_size() + 5;  // padded: ids the tokenizer does not use
    cfg.hidden_size = 64;
    cfg.intermediate_size = 128;
    cfg.num_hidden_layers = 2;
    cfg.num_attention_heads = 4;
    cfg.num_key_value_heads = 2;
    cfg.max_position_embeddings = 128;
    cfg.rope_theta = 10000.0f;
    cfg.tie_word_embeddings = true;
    train_and_save();
    std::vector<int32_t> all = tok.encode(std::string(kText) + kText);
    for (int off : {0, 17, 45, 80}) prompts.emplace_back(all.begin() + off, all.begin() + off + 6);
    prompts.push_back(tok.encode_with_specials("<|user|>\nthe mill"));
    const std::string bin = std::getenv("VERITAS_BIN") ? std::getenv("VERITAS_BIN") : VERITAS_BINARY_DIR "/veritas";
    nlohmann::json spec;
    for (const char* t : {"f32", "f16", "q8_0"}) {
      fs::path out = dir / (std::string(t) + ".gguf");
      std::string cmd = bin + " export --gguf " + out.string() + " --type " + t + " " + (dir / "ckpt").string() +
                        " > " + (dir / "export.log").string() + " 2>&1";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("veritas export failed: " + read_file(dir / "export.log"));
      spec["files"][t] = out.string();
    }
    spec["prompts"] = prompts;
    spec["n"] = kGen;
    spec["texts"] = texts();
    atomic_write_file(dir / "spec.json", spec.dump());
    std::string cmd = VERITAS_SOURCE_DIR "/.venv/bin/python " VERITAS_SOURCE_DIR "/tests/reference/gguf_export_ref.py " +
                      (dir / "spec.json").string() + " " + (dir / "ref.json").string() + " > " +
                      (dir / "ref.log").string() + " 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("llama.cpp reference failed: " + read_file(dir / "ref.log"));
    ref = nlohmann::json::parse(read_file(dir / "ref.json"));
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  static std::vector<std::string> texts() {
    return {kText, "  two  spaces,\ttabs\n\nand newlines\n", "numbers 1234567 and 3.14, can't won't I'm",
            "unicode: café naïve 日本語 😀", "<|endoftext|> as plain text"};
  }

  // Memorizes kText (AdamW written out here; the training stage is not linked).
  void train_and_save() {
    const int B = 8, T = 48;
    Model m(cfg, B, T);
    m.init_weights(7);
    std::vector<int32_t> ids = tok.encode(std::string(kText) + kText + kText);
    auto& ps = m.params();
    std::vector<std::vector<float>> mo(ps.size()), ve(ps.size());
    for (size_t i = 0; i < ps.size(); ++i) mo[i].assign(ps[i].size, 0), ve[i].assign(ps[i].size, 0);
    Rng r(3);
    std::vector<int32_t> in(B * T), tg(B * T);
    float loss = 0;
    const int steps = 300;
    for (int s = 1; s <= steps; ++s) {
      for (int b = 0; b < B; ++b) {
        size_t off = r.next() % (ids.size() - T - 1);
        for (int t = 0; t < T; ++t) in[b * T + t] = ids[off + t], tg[b * T + t] = ids[off + t + 1];
      }
      m.zero_grad();
      loss = m.forward_backward(in.data(), tg.data(), nullptr, B, T);
      const float lr = 1e-2f * std::min(1.0f, 2.0f * (steps - s + 1) / steps);
      const double c1 = 1 - std::pow(0.9, s), c2 = 1 - std::pow(0.99, s);
      for (size_t i = 0; i < ps.size(); ++i)
        for (int64_t k = 0; k < ps[i].size; ++k) {
          float g = ps[i].grad[k];
          mo[i][k] = 0.9f * mo[i][k] + 0.1f * g;
          ve[i][k] = 0.99f * ve[i][k] + 0.01f * g * g;
          ps[i].data[k] -= lr * (float)(mo[i][k] / c1 / (std::sqrt(ve[i][k] / c2) + 1e-8));
        }
    }
    std::printf("tiny model trained: final loss %.3f\n", loss);
    fs::create_directories(dir / "ckpt");
    cfg.save(dir / "ckpt/config.json");
    m.save(dir / "ckpt/model.safetensors");
    tok.save(dir / "ckpt/tokenizer.json");
  }
};

const Fixture& fixture() {
  static Fixture f;
  return f;
}

// Greedy continuation of every prompt; min_margin: the smallest top-1 minus top-2 logit.
std::vector<std::vector<int32_t>> greedy(Engine& e, const std::vector<std::vector<int32_t>>& prompts,
                                         float* min_margin = nullptr) {
  std::vector<std::vector<int32_t>> out;
  const int V = e.config().vocab_size;
  std::vector<float> logits(V);
  float mm = 1e30f;
  for (auto& p : prompts) {
    KVCache c = e.new_cache();
    e.forward(c, p.data(), (int)p.size(), logits.data());
    std::vector<int32_t> gen;
    for (int i = 0; i < kGen; ++i) {
      int32_t t = argmax(logits.data(), V);
      float second = -1e30f;
      for (int v = 0; v < V; ++v)
        if (v != t) second = std::max(second, logits[v]);
      mm = std::min(mm, logits[t] - second);
      gen.push_back(t);
      e.forward(c, &t, 1, logits.data());
    }
    out.push_back(gen);
  }
  if (min_margin) *min_margin = mm;
  return out;
}

int agreement(const std::vector<std::vector<int32_t>>& a, const std::vector<std::vector<int32_t>>& b) {
  int same = 0;
  for (size_t p = 0; p < a.size(); ++p)
    for (size_t i = 0; i < a[p].size() && i < b[p].size(); ++i) same += a[p][i] == b[p][i];
  return same;
}

Engine load(const fs::path& p, Precision prec = Precision::F32) {
  EngineOptions o;
  o.precision = prec;
  return Engine::load(p, o);
}

}  // namespace

TEST(GgufExport, LlamaCppGreedyMatchesVeritas) {
  const Fixture& f = fixture();
  Engine ck = load(f.dir / "ckpt");
  float margin = 0;
  auto ours = greedy(ck, f.prompts, &margin);
  std::printf("veritas fp32 greedy: %zu prompts x %d tokens, smallest top-1 margin %.3f\n", ours.size(), kGen, margin);
  const int total = (int)f.prompts.size() * kGen;
  for (const char* t : {"f32", "f16"}) {
    auto theirs = f.ref[t]["greedy"].get<std::vector<std::vector<int32_t>>>();
    std::printf("llama.cpp %-4s vs veritas checkpoint fp32: %d/%d tokens identical\n", t, agreement(ours, theirs), total);
    EXPECT_EQ(theirs, ours) << t;
  }
  Engine q8 = load(f.dir / "q8_0.gguf", Precision::GGUF);
  auto ours_q8 = greedy(q8, f.prompts);
  auto theirs_q8 = f.ref["q8_0"]["greedy"].get<std::vector<std::vector<int32_t>>>();
  std::printf("llama.cpp q8_0 vs veritas --precision gguf on the same file: %d/%d identical; "
              "vs the fp32 checkpoint: %d/%d\n",
              agreement(ours_q8, theirs_q8), total, agreement(ours, theirs_q8), total);
  EXPECT_EQ(theirs_q8, ours_q8);
  for (const char* t : {"f32", "f16", "q8_0"}) {
    EXPECT_EQ(f.ref[t]["n_vocab"].get<int>(), f.cfg.vocab_size) << t;
    EXPECT_EQ(f.ref[t]["chat_template"].get<std::string>(), veritas_chat_template_jinja()) << t;
    EXPECT_EQ(f.ref[t]["eos"].get<int>(), *f.tok.token_id(kEndOfText)) << t;
  }
}

TEST(GgufExport, LlamaCppTokenizesLikeVeritas) {
  const Fixture& f = fixture();
  auto texts = Fixture::texts();
  for (const char* t : {"f32", "q8_0"}) {
    auto theirs = f.ref[t]["tokens"].get<std::vector<std::vector<int32_t>>>();
    ASSERT_EQ(theirs.size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(theirs[i], f.tok.encode(texts[i])) << t << ": " << texts[i];
  }
}

TEST(GgufExport, ReadBackEqualsCheckpoint) {
  const Fixture& f = fixture();
  // F32: the same weights, so bit-identical logits on every position.
  Engine ck = load(f.dir / "ckpt"), back = load(f.dir / "f32.gguf");
  const int V = f.cfg.vocab_size;
  std::vector<int32_t> ids = f.tok.encode(kText);
  ids.resize(64);
  std::vector<float> a(ids.size() * V), b(ids.size() * V);
  KVCache ca = ck.new_cache(), cb = back.new_cache();
  ck.forward(ca, ids.data(), (int)ids.size(), a.data(), true);
  back.forward(cb, ids.data(), (int)ids.size(), b.data(), true);
  EXPECT_EQ(a, b);
  EXPECT_EQ(back.config().num_key_value_heads, f.cfg.num_key_value_heads);
  // The tokenizer comes back too: same ids, veritas's chat template recognized.
  ASSERT_NE(back.tokenizer(), nullptr);
  for (const auto& t : Fixture::texts()) EXPECT_EQ(back.tokenizer()->encode(t), f.tok.encode(t)) << t;
  EXPECT_EQ(chat_template_of(*back.tokenizer()).format, ChatFormat::Veritas);
  // F16: every matrix is the checkpoint's rounded to f16; norm weights stay F32.
  GgufFile g32 = GgufFile::open(f.dir / "f32.gguf"), g16 = GgufFile::open(f.dir / "f16.gguf");
  for (const auto& t : g32.tensors()) {
    const GgufTensor* t16 = g16.find(t.name);
    ASSERT_NE(t16, nullptr) << t.name;
    EXPECT_EQ(t16->type, (uint32_t)(t.dims.size() == 1 ? GgmlType::F32 : GgmlType::F16)) << t.name;
    std::vector<float> x(t.numel()), y(t.numel());
    g32.read_f32(t.name, t.numel(), x.data());
    g16.read_f32(t.name, t.numel(), y.data());
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(y[i], t.dims.size() == 1 ? x[i] : f16_to_f32(f32_to_f16(x[i]))) << t.name << "[" << i << "]";
  }
}

TEST(GgufExport, BadInputIsAClearError) {
  // The error of exporting the checkpoint in d ("" if none), and no output file either way.
  auto export_error = [](const fs::path& d) {
    std::string msg;
    try {
      export_checkpoint_gguf(d, "", GgmlType::F16, d / "x.gguf");
    } catch (const Error& e) {
      msg = e.what();
    }
    EXPECT_FALSE(fs::exists(d / "x.gguf"));
    return msg;
  };
  fs::path d = make_temp_dir("gguf-export-bad");
  std::string msg = export_error(d);
  EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
  fs::remove_all(d);
  // A model without position encoding: llama.cpp would rotate it, so there is no GGUF form.
  d = veritas::test::tiny_checkpoint("gguf-export-nope", 1, 16);
  ModelConfig c = ModelConfig::load(d / "config.json");
  c.rope = false;
  c.save(d / "config.json");
  msg = export_error(d);
  EXPECT_NE(msg.find("without position encoding"), std::string::npos) << msg;
  fs::remove_all(d);
  // A config.json whose sizes the weights do not have is named before buffers are sized
  // from it.
  d = veritas::test::tiny_checkpoint("gguf-export-ffn", 1, 16);
  c = ModelConfig::load(d / "config.json");
  c.intermediate_size = 1 << 29;
  c.save(d / "config.json");
  msg = export_error(d);
  EXPECT_NE(msg.find("mlp.down_proj.weight' has shape"), std::string::npos) << msg;
  fs::remove_all(d);
}
