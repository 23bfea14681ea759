// veritas import (infer/import.hpp): a GGUF file or Hugging Face folder as a trainable
// fp32 checkpoint. The imported checkpoint must give the source's fp32-dequantized logits
// (generation engine: bit-identical, same fp32 weights; training model: within float
// rounding of a different summation order), keep the tokenizer, chat template and eos,
// and refuse bad input clearly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "reference_run.hpp"
#include "veritas/infer/engine.hpp"
#include "veritas/infer/gguf_export.hpp"
#include "veritas/infer/import.hpp"
#include "veritas/model/model.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/tokenizer_files.hpp"
#include "veritas/tokenizer/train.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"

using namespace veritas;
using namespace veritas::infer;

namespace {

std::vector<float> engine_logits(Engine& e, const std::vector<int32_t>& ids) {
  std::vector<float> out(ids.size() * (size_t)e.config().vocab_size);
  KVCache c = e.new_cache((int)ids.size());
  e.forward(c, ids.data(), (int)ids.size(), out.data(), true);
  return out;
}

std::vector<float> model_logits(const fs::path& ckpt, const std::vector<int32_t>& ids) {
  ModelConfig cfg = ModelConfig::load(ckpt / "config.json");
  Model m(cfg, 1, (int)ids.size());
  m.load(ckpt / "model.safetensors");
  std::vector<float> out(ids.size() * (size_t)cfg.vocab_size);
  m.forward_logits(ids.data(), 1, (int)ids.size(), out.data());
  return out;
}

// Largest |a - b| over the largest |b|.
double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, s = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, (double)std::fabs(a[i] - b[i])), s = std::max(s, (double)std::fabs(b[i]));
  return d / s;
}

struct Tiny {
  fs::path dir;
  Tokenizer tok;
  Tiny() {
    dir = make_temp_dir("import");
    BpeTrainer bt;
    bt.add_text("the mill turns, the river runs; 12 sacks of grain and 31 more on the road to town. ");
    tok = bt.train(256 + 40 + (int)default_special_tokens().size(), default_special_tokens());
    ModelConfig cfg;
    cfg.vocab_size = tok.vocab_size();
    cfg.hidden_size = 64;
    cfg.intermediate_size = 96;
    cfg.num_hidden_layers = 2;
    cfg.num_attention_heads = 4;
    cfg.num_key_value_heads = 2;
    cfg.max_position_embeddings = 64;
    Model m(cfg, 1, 1);
    Rng r(5);
    for (auto& p : m.params())
      for (int64_t i = 0; i < p.size; ++i) p.data[i] = p.shape.size() == 1 ? 1.0f + 0.1f * (float)r.normal() : 0.2f * (float)r.normal();
    fs::create_directories(dir / "ckpt");
    cfg.save(dir / "ckpt/config.json");
    m.save(dir / "ckpt/model.safetensors");
    tok.save(dir / "ckpt/tokenizer.json");
    export_checkpoint_gguf(dir / "ckpt", "", GgmlType::Q8_0, dir / "q8.gguf");
  }
  ~Tiny() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

TEST(Import, TinyGgufGivesItsDequantizedLogits) {
  Tiny t;
  ImportResult r = import_checkpoint(t.dir / "q8.gguf", t.dir / "out");
  EXPECT_EQ(r.chat_template, "veritas");
  std::vector<int32_t> ids = t.tok.encode("the river runs past 12 sacks of grain");
  Engine src = Engine::load_gguf(t.dir / "q8.gguf"), imp = Engine::load(t.dir / "out");
  const auto a = engine_logits(src, ids), b = engine_logits(imp, ids);
  EXPECT_EQ(a, b);  // the same fp32 weights, so the same bits
  // Q8_0 really was dequantized (not the checkpoint's original fp32 weights).
  Engine orig = Engine::load(t.dir / "ckpt");
  EXPECT_NE(engine_logits(orig, ids), a);
  // The training model reads the checkpoint: its logits within float rounding.
  EXPECT_LT(max_rel(model_logits(t.dir / "out", ids), a), 1e-5);
  // The tokenizer comes along.
  ASSERT_NE(imp.tokenizer(), nullptr);
  EXPECT_EQ(imp.tokenizer()->encode("grain and mill"), t.tok.encode("grain and mill"));
}

TEST(Import, HuggingFaceFolderRoundTrips) {
  Tiny t;
  import_checkpoint(t.dir / "ckpt", t.dir / "out");
  std::vector<int32_t> ids = t.tok.encode("31 more on the road");
  Engine a = Engine::load(t.dir / "ckpt"), b = Engine::load(t.dir / "out");
  EXPECT_EQ(engine_logits(a, ids), engine_logits(b, ids));
}

TEST(Import, BadInputIsAClearError) {
  Tiny t;
  auto err = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(err([&] { import_checkpoint(t.dir / "missing.gguf", t.dir / "o1"); }).find("no such file"), std::string::npos);
  fs::create_directories(t.dir / "full");
  atomic_write_file(t.dir / "full/x", "x");
  EXPECT_NE(err([&] { import_checkpoint(t.dir / "q8.gguf", t.dir / "full"); }).find("not an empty folder"),
            std::string::npos);
  fs::create_directories(t.dir / "empty");
  EXPECT_NE(err([&] { import_checkpoint(t.dir / "empty", t.dir / "o2"); }).find("config.json"), std::string::npos);
  atomic_write_file(t.dir / "junk.gguf", "not a gguf file at all");
  EXPECT_NE(err([&] { import_checkpoint(t.dir / "junk.gguf", t.dir / "o3"); }), "no error");
  EXPECT_FALSE(fs::exists(t.dir / "o3"));
}

// The reference model: the Q4_1 file dequantized to fp32 gives the GGUF path's fp32
// logits, keeps ChatML and <|im_end|>, and the training model agrees with it.
TEST(Import, SmolLM2Q4_1) {
  const fs::path dir = make_temp_dir("import-smollm");
  const std::string gguf = reference::smollm_path();
  ImportResult r = import_checkpoint(gguf, dir / "m");
  EXPECT_EQ(r.chat_template, "chatml");
  EXPECT_EQ(r.config.num_hidden_layers, 30);
  EXPECT_EQ(r.config.num_key_value_heads, 3);
  Engine src = Engine::load_gguf(gguf), imp = Engine::load(dir / "m");
  ASSERT_NE(imp.tokenizer(), nullptr);
  EXPECT_EQ(chat_template_of(*imp.tokenizer()).format, ChatFormat::ChatML);
  EXPECT_EQ(imp.tokenizer()->eos_id(), src.tokenizer()->eos_id());
  // The training stages read the same tokenizer through tokenizer_files.hpp.
  Tokenizer tf = load_tokenizer_files(dir / "m/tokenizer.json");
  EXPECT_EQ(chat_tokens(tf, {{"user", "What is 2+2?"}}, true), chat_tokens(*src.tokenizer(), {{"user", "What is 2+2?"}}, true));
  std::vector<int32_t> ids = chat_tokens(*src.tokenizer(), {{"user", "What is the capital of France?"}}, true);
  const auto a = engine_logits(src, ids), b = engine_logits(imp, ids);
  EXPECT_EQ(a, b);
  const double rel = max_rel(model_logits(dir / "m", ids), a);
  std::printf("SmolLM2: training model vs GGUF fp32 logits, max |diff| / max |logit| = %.3g\n", rel);
  EXPECT_LT(rel, 1e-4);
  std::error_code ec;
  fs::remove_all(dir, ec);
}
