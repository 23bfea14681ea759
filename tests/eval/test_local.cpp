// The local-model answerer on a tiny random checkpoint (written here): it loads through
// infer's Engine, prompts with the chat template, returns k texts, is reproducible, and
// its answers go through the verifier like anyone's (random weights: mostly malformed).
#include <gtest/gtest.h>

#include <cmath>

#include "veritas/eval/harness.hpp"
#include "veritas/eval/local.hpp"
#include "veritas/model/config.hpp"
#include "veritas/model/safetensors.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"

using namespace veritas;
using namespace veritas::eval;

namespace {

fs::path tiny_checkpoint(bool with_tokenizer) {
  fs::path dir = make_temp_dir("eval-local");
  ModelConfig cfg;
  cfg.vocab_size = 261;  // 256 bytes + 5 specials
  cfg.hidden_size = 32;
  cfg.intermediate_size = 64;
  cfg.num_hidden_layers = 2;
  cfg.num_attention_heads = 4;
  cfg.num_key_value_heads = 2;
  cfg.max_position_embeddings = 1024;  // room for the protocol prompt in byte tokens
  cfg.rope_theta = 10000.0f;
  cfg.rms_norm_eps = 1e-5f;
  cfg.tie_word_embeddings = true;
  cfg.save(dir / "config.json");
  Rng rng(1);
  std::vector<std::vector<float>> store;
  std::vector<TensorRef> refs;
  auto add = [&](const std::string& n, std::vector<int64_t> shape) {
    int64_t sz = 1;
    for (auto s : shape) sz *= s;
    store.emplace_back(sz);
    for (auto& v : store.back()) v = shape.size() == 1 ? 1.0f : (float)rng.normal() / std::sqrt((float)shape.back());
    refs.push_back({n, shape, nullptr});
  };
  const int64_t H = cfg.hidden_size, I = cfg.intermediate_size, KV = cfg.num_key_value_heads * cfg.head_dim();
  add("model.embed_tokens.weight", {cfg.vocab_size, H});
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {H});
    add(p + "post_attention_layernorm.weight", {H});
    add(p + "self_attn.q_proj.weight", {H, H});
    add(p + "self_attn.k_proj.weight", {KV, H});
    add(p + "self_attn.v_proj.weight", {KV, H});
    add(p + "self_attn.o_proj.weight", {H, H});
    add(p + "mlp.gate_proj.weight", {I, H});
    add(p + "mlp.up_proj.weight", {I, H});
    add(p + "mlp.down_proj.weight", {H, I});
  }
  add("model.norm.weight", {H});
  for (size_t i = 0; i < refs.size(); ++i) refs[i].data = store[i].data();
  save_safetensors(dir / "model.safetensors", refs);
  if (with_tokenizer) {
    std::vector<std::string> bytes(256);
    for (int i = 0; i < 256; ++i) bytes[i] = std::string(1, (char)i);
    std::vector<AddedToken> added = {{256, kEndOfText, true}, {257, kSystem, true}, {258, kUser, true},
                                     {259, kAssistant, true}, {260, kEndOfTurn, true}};
    Tokenizer::from_bpe(bytes, {}, added).save(dir / "tokenizer.json");
  }
  return dir;
}

}  // namespace

TEST(EvalLocal, AnswersThroughTheEngine) {
  fs::path dir = tiny_checkpoint(true);
  LocalOptions o;
  o.dir = dir.string();
  o.max_tokens = 6;
  LocalAnswerer a(o);
  auto tasks = load_tasks({"arith"}, 3, 1, "test", "");
  auto one = a.answer(tasks[0], 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one, a.answer(tasks[0], 1));  // greedy: reproducible
  auto three = a.answer(tasks[0], 3);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three, a.answer(tasks[0], 3));  // sampled, but seeded by the task
  EvalOptions eo;
  eo.progress = false;
  eo.samples = 2;
  auto run = run_eval(tasks, a, eo);
  EXPECT_EQ(run.results["overall"]["answers"].get<int>(), 6);
  EXPECT_NE(run.describe.find(dir.string()), std::string::npos);
  fs::remove_all(dir);
}

TEST(EvalLocal, CheckpointWithoutTokenizerIsAClearError) {
  fs::path dir = tiny_checkpoint(false);
  LocalOptions o;
  o.dir = dir.string();
  try {
    LocalAnswerer a(o);
    ADD_FAILURE() << "expected an error";
  } catch (const veritas::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
  }
  o.dir = (dir / "missing").string();
  EXPECT_THROW(LocalAnswerer{o}, veritas::Error);
  fs::remove_all(dir);
}
