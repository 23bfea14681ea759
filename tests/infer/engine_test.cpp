// Engine: KV-cache decode equals full recomputation, batches and forks equal single
// sequences, generation stops where it should, the chat template, and clear errors for
// broken checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <tuple>
#include <fstream>
#include <memory>
#include <vector>

#include "veritas/infer/chat.hpp"
#include "veritas/infer/engine.hpp"
#include "veritas/model/model.hpp"
#include "veritas/model/safetensors.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/text.hpp"
#include "byte_tokenizer.hpp"
#include "random_weights.hpp"

using namespace veritas;
using namespace veritas::infer;
using veritas::test::byte_tokenizer;
using veritas::test::random_source;

namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 270;  // 256 bytes + chat specials of the test tokenizer
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 80;
  c.rope_theta = 10000.0f;
  c.rms_norm_eps = 1e-5f;
  c.tie_word_embeddings = true;
  return c;
}

Engine tiny_engine(Precision p = Precision::F32, uint64_t seed = 1, KVType kv = KVType::F32) {
  EngineOptions o;
  o.precision = p;
  o.kv_cache = kv;
  return Engine::from_weights(tiny_config(), random_source(seed), o);
}

std::vector<int32_t> some_tokens(int n, uint64_t seed) {
  Rng r(seed);
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((int32_t)r.below(256));
  return t;
}


}  // namespace

// Every weight precision with either KV-cache type.
class EnginePrecision : public ::testing::TestWithParam<std::tuple<Precision, KVType>> {
 protected:
  Engine engine() const { return tiny_engine(std::get<0>(GetParam()), 1, std::get<1>(GetParam())); }
};

TEST_P(EnginePrecision, StepByStepDecodeEqualsFullRecomputation) {
  Engine e = engine();
  const int V = e.config().vocab_size, n = 70;  // > one 64-token prompt chunk
  auto ids = some_tokens(n, 3);
  std::vector<float> full((size_t)n * V), step(V);
  KVCache a = e.new_cache();
  e.forward(a, ids.data(), n, full.data(), /*all_logits=*/true);
  EXPECT_EQ(a.size(), n);
  KVCache b = e.new_cache();
  for (int t = 0; t < n; ++t) {
    e.forward(b, &ids[t], 1, step.data());
    for (int v = 0; v < V; ++v) ASSERT_EQ(step[v], full[(size_t)t * V + v]) << "position " << t << " token " << v;
  }
  // A prompt fed in two pieces, last-token logits only.
  KVCache c = e.new_cache();
  e.forward(c, ids.data(), 30, step.data());
  e.forward(c, ids.data() + 30, n - 30, step.data());
  for (int v = 0; v < V; ++v) ASSERT_EQ(step[v], full[(size_t)(n - 1) * V + v]);
}

TEST_P(EnginePrecision, BatchAndForkEqualSingleSequences) {
  Engine e = engine();
  const int V = e.config().vocab_size;
  auto p1 = some_tokens(9, 4), p2 = some_tokens(5, 5);
  std::vector<float> l1(V), l2(V), batch(2 * V);
  KVCache c1 = e.new_cache(), c2 = e.new_cache();
  e.forward(c1, p1.data(), 9, l1.data());
  e.forward(c2, p2.data(), 5, l2.data());
  KVCache f1 = c1.fork(), f2 = c2.fork();
  int32_t next[2] = {7, 11};
  e.forward(c1, &next[0], 1, l1.data());
  e.forward(c2, &next[1], 1, l2.data());
  e.forward_batch({&f1, &f2}, next, batch.data());
  for (int v = 0; v < V; ++v) {
    ASSERT_EQ(batch[v], l1[v]);
    ASSERT_EQ(batch[V + v], l2[v]);
  }
  EXPECT_EQ(f1.size(), 10);
  EXPECT_EQ(f2.size(), 6);
  EXPECT_THROW(e.forward_batch({&f1, &f1}, next, batch.data()), Error);
}

INSTANTIATE_TEST_SUITE_P(All, EnginePrecision,
                         ::testing::Combine(::testing::Values(Precision::F32, Precision::BF16, Precision::INT8),
                                            ::testing::Values(KVType::F32, KVType::F16)),
                         [](const auto& info) {
                           return std::string(precision_name(std::get<0>(info.param))) +
                                  (std::get<1>(info.param) == KVType::F16 ? "_kv_f16" : "_kv_f32");
                         });

// An fp16 cache holds half the bytes and changes the logits only by the rounding of each
// stored key and value (relative 2^-11 = 4.9e-4): the attention output is a weighted mean
// of values (error <= 4.9e-4 of their size) with weights from scores q.k whose error is
// <= 4.9e-4 of sum |q k|; through 2 layers and the head this stays near 1e-3 of the
// logit scale. Bound 5e-3; the caches must differ (the rounding happened).
TEST(Engine, Fp16CacheHalvesMemoryAndStaysClose) {
  Engine e32 = tiny_engine(Precision::F32, 1, KVType::F32), e16 = tiny_engine(Precision::F32, 1, KVType::F16);
  const int V = e32.config().vocab_size, n = 70;
  auto ids = some_tokens(n, 3);
  std::vector<float> a((size_t)n * V), b((size_t)n * V);
  KVCache c32 = e32.new_cache(), c16 = e16.new_cache();
  EXPECT_EQ(c16.type(), KVType::F16);
  EXPECT_EQ(c16.bytes() * 2, c32.bytes());
  EXPECT_EQ(c16.fork().type(), KVType::F16);
  e32.forward(c32, ids.data(), n, a.data(), true);
  e16.forward(c16, ids.data(), n, b.data(), true);
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, (double)std::fabs(a[i] - b[i]));
    scale = std::max(scale, (double)std::fabs(a[i]));
  }
  std::printf("fp16 vs fp32 KV cache, %d positions: max |diff| / max |logit| = %.3g\n", n, err / scale);
  EXPECT_GT(err, 0.0);
  EXPECT_LE(err / scale, 5e-3);
  EXPECT_EQ(parse_kv_type("f16"), KVType::F16);
  EXPECT_THROW(parse_kv_type("q8"), Error);
}

TEST(Engine, TiedHeadEqualsExplicitCopyOfEmbedding) {
  ModelConfig cfg = tiny_config();
  Engine tied = Engine::from_weights(cfg, random_source(2));
  cfg.tie_word_embeddings = false;
  auto src = random_source(2);
  Engine untied = Engine::from_weights(cfg, [&](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
    return src(name == "lm_head.weight" ? "model.embed_tokens.weight" : name, shape, dst);
  });
  auto ids = some_tokens(6, 9);
  std::vector<float> a(cfg.vocab_size), b(cfg.vocab_size);
  KVCache ca = tied.new_cache(), cb = untied.new_cache();
  tied.forward(ca, ids.data(), 6, a.data());
  untied.forward(cb, ids.data(), 6, b.data());
  EXPECT_EQ(a, b);
  // Untied without lm_head: a clear error.
  EXPECT_THROW(
      {
        try {
          Engine::from_weights(cfg, random_source(2));
        } catch (const Error& err) {
          EXPECT_NE(std::string(err.what()).find("lm_head.weight"), std::string::npos);
          throw;
        }
      },
      Error);
}

TEST(Engine, GenerateKEqualsIndependentGenerations) {
  Engine e = tiny_engine();
  SamplingOptions o;
  o.temperature = 1.0f;
  o.top_k = 50;
  o.seed = 100;
  o.max_tokens = 12;
  auto prompt = some_tokens(7, 6);
  auto many = e.generate_k(prompt, 3, o);
  ASSERT_EQ(many.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    SamplingOptions oi = o;
    oi.seed = o.seed + i;
    Generation one = e.generate(prompt, oi);
    EXPECT_EQ(many[i].tokens, one.tokens) << "sequence " << i;
    EXPECT_EQ(many[i].finish, FinishReason::Length);
  }
  EXPECT_NE(many[0].tokens, many[1].tokens);
  // Same seed, same output.
  EXPECT_EQ(e.generate(prompt, o).tokens, e.generate(prompt, o).tokens);
}

// No position encoding (NoPE): the engine gives the training model's logits for the same
// weights, and not the rotary model's (the setting reaches both).
TEST(Engine, NoPositionEncodingMatchesTheTrainingModel) {
  ModelConfig c = tiny_config();
  c.rope = false;
  const auto ids = some_tokens(12, 4);
  const int T = (int)ids.size(), V = c.vocab_size;
  Model m(c, 1, T);
  for (auto& p : m.params()) ASSERT_TRUE(random_source(1)(p.name, p.shape, p.data)) << p.name;
  std::vector<float> want((size_t)T * V), nope((size_t)T * V), rope((size_t)T * V);
  m.forward_logits(ids.data(), 1, T, want.data());
  Engine e = Engine::from_weights(c, random_source(1));
  KVCache cache = e.new_cache(T);
  e.forward(cache, ids.data(), T, nope.data(), true);
  Engine r = tiny_engine();
  KVCache rc = r.new_cache(T);
  r.forward(rc, ids.data(), T, rope.data(), true);
  double diff = 0, scale = 0, rope_diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, (double)std::fabs(nope[i] - want[i]));
    rope_diff = std::max(rope_diff, (double)std::fabs(rope[i] - want[i]));
    scale = std::max(scale, (double)std::fabs(want[i]));
  }
  EXPECT_LE(diff / scale, 1e-5);
  // The first position has no rotation either way; later ones must differ.
  EXPECT_GT(rope_diff / scale, 1e-2);
}

TEST(Engine, StopTokenMaxTokensAndContext) {
  Engine e = tiny_engine();
  auto prompt = some_tokens(5, 8);
  SamplingOptions o;
  o.temperature = 0;
  o.max_tokens = 10;
  Generation g = e.generate(prompt, o);
  ASSERT_EQ(g.tokens.size(), 10u);
  EXPECT_EQ(g.finish, FinishReason::Length);
  // Stop at the 4th greedy token (its first occurrence): 3 tokens are returned.
  int32_t stop = g.tokens[3];
  size_t first = std::find(g.tokens.begin(), g.tokens.end(), stop) - g.tokens.begin();
  o.stop_tokens = {stop};
  Generation s = e.generate(prompt, o);
  EXPECT_EQ(s.finish, FinishReason::Stop);
  EXPECT_EQ(s.tokens, std::vector<int32_t>(g.tokens.begin(), g.tokens.begin() + first));
  // The callback can stop generation.
  o.stop_tokens.clear();
  int calls = 0;
  Generation c = e.generate(prompt, o, [&](int32_t, std::string_view) { return ++calls < 2; });
  EXPECT_EQ(c.finish, FinishReason::Callback);
  EXPECT_EQ(c.tokens.size(), 2u);
  // A small cache fills up.
  KVCache small = e.new_cache(8);
  Generation f = e.generate(small, prompt, o);
  EXPECT_EQ(f.finish, FinishReason::ContextFull);
  EXPECT_EQ(f.tokens.size(), 4u);  // 3 fed at positions 5..7, the 4th sampled from position 7's logits
  // Continuing a cache: the cache holds prompt + generated tokens.
  KVCache cont = e.new_cache();
  o.max_tokens = 4;
  Generation c1 = e.generate(cont, prompt, o);
  EXPECT_EQ(cont.size(), 5 + 4);
  EXPECT_EQ(c1.tokens, std::vector<int32_t>(g.tokens.begin(), g.tokens.begin() + 4));
  // Out-of-vocabulary ids and overflowing prompts are errors, not crashes.
  std::vector<float> logits(e.config().vocab_size);
  KVCache x = e.new_cache(4);
  int32_t bad = e.config().vocab_size;
  EXPECT_THROW(e.forward(x, &bad, 1, logits.data()), Error);
  EXPECT_THROW(e.forward(x, prompt.data(), 5, logits.data()), Error);
  EXPECT_THROW(e.generate({}, o), Error);
}

TEST(Engine, StopStringsAndTextWithTokenizer) {
  Engine e = tiny_engine();
  e.set_tokenizer(byte_tokenizer());
  SamplingOptions o;
  o.temperature = 0;
  o.max_tokens = 20;
  o.stop_at_end_tokens = false;
  auto prompt = some_tokens(4, 10);
  Generation g = e.generate(prompt, o);
  ASSERT_EQ(g.tokens.size(), 20u);
  std::string all;
  for (int32_t id : g.tokens)  // ids past the tokenizer's 261 (padded model vocabulary) print nothing
    if (id < e.tokenizer()->vocab_size()) all += e.tokenizer()->token_bytes(id);
  // The random model spells invalid UTF-8: the text is valid UTF-8 with U+FFFD in its
  // place (streamed pieces may split a run of bad bytes, so compare what is left).
  auto without_replacements = [](std::string t) {
    for (size_t i; (i = t.find("\xEF\xBF\xBD")) != std::string::npos;) t.erase(i, 3);
    return t;
  };
  EXPECT_TRUE(is_valid_utf8(g.text));
  EXPECT_NE(g.text.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(without_replacements(g.text), without_replacements(utf8_sanitize(all)));
  // Stop at a 2-byte string that first appears at byte k: text is cut before it, and the
  // streamed pieces add up to the text.
  std::string stop = all.substr(5, 2);
  size_t k = all.find(stop);
  o.stop_strings = {stop};
  std::string streamed;
  Generation s = e.generate(prompt, o, [&](int32_t, std::string_view t) { streamed += t; return true; });
  EXPECT_EQ(s.finish, FinishReason::Stop);
  EXPECT_EQ(without_replacements(s.text), without_replacements(utf8_sanitize(all.substr(0, k))));
  EXPECT_TRUE(is_valid_utf8(s.text));
  EXPECT_EQ(streamed, s.text);
  // End tokens stop by default.
  auto ends = e.end_tokens();
  EXPECT_EQ(ends, (std::vector<int32_t>{256, 260}));
}

TEST(Chat, TemplateTextAndTokens) {
  auto tok = byte_tokenizer();
  std::vector<ChatMessage> msgs = {{"system", "Be brief."}, {"user", "Hi <|end|>"}, {"assistant", "Hello."}};
  std::string text = chat_text(msgs, true);
  EXPECT_EQ(text,
            "<|system|>\nBe brief.<|end|>\n<|user|>\nHi <|end|><|end|>\n<|assistant|>\nHello.<|end|>\n<|assistant|>\n");
  auto ids = chat_tokens(*tok, msgs, true);
  // The user's "<|end|>" stays plain bytes; only the template's markers are specials.
  int specials = 0;
  for (int32_t id : ids) specials += id >= 256;
  EXPECT_EQ(specials, 3 * 2 + 1);
  EXPECT_EQ(ids.front(), 257);
  EXPECT_EQ(ids.back(), '\n');
  EXPECT_EQ(ids[ids.size() - 2], 259);
  EXPECT_EQ(tok->decode(ids), text);
  // Without forged markers the template equals encode_with_specials of its text.
  msgs[1].content = "Hi";
  EXPECT_EQ(chat_tokens(*tok, msgs, true), tok->encode_with_specials(chat_text(msgs, true)));
  EXPECT_THROW(chat_text({{"robot", "x"}}, false), Error);
}

TEST(Chat, SessionReusesCacheAndDropsOldTurns) {
  Engine e = tiny_engine();
  auto tok = byte_tokenizer();
  e.set_tokenizer(tok);
  SamplingOptions o;
  o.temperature = 0;
  o.max_tokens = 6;
  o.stop_at_end_tokens = false;  // random weights: keep replies at a known length
  ChatSession chat(e, "sys", 80);
  Generation r1 = chat.reply("hello", o);
  int after1 = chat.cached_tokens();
  // First turn: the whole template, then the 6 reply tokens.
  EXPECT_EQ(after1, (int)chat_tokens(*tok, {{"system", "sys"}, {"user", "hello"}}, true).size() + 6);
  Generation r2 = chat.reply("again", o);
  // Continuing the cache equals a fresh run of the whole conversation's tokens (the
  // reply's own tokens, closed by <|end|>\n, then the next turn).
  auto ids = chat_tokens(*tok, {{"system", "sys"}, {"user", "hello"}}, true);
  ids.insert(ids.end(), r1.tokens.begin(), r1.tokens.end());
  ids.push_back(260);
  ids.push_back('\n');
  auto next = chat_tokens(*tok, {{"user", "again"}}, true);
  ids.insert(ids.end(), next.begin(), next.end());
  Generation fresh = e.generate(ids, o);
  EXPECT_EQ(r2.tokens, fresh.tokens);
  EXPECT_GT(chat.cached_tokens(), after1);
  // Keep talking past the 80-token context: old turns are dropped, no error.
  for (int i = 0; i < 6; ++i) chat.reply("more text", o);
  EXPECT_LE(chat.cached_tokens(), 80);
  EXPECT_EQ(chat.messages().front().role, "system");
  EXPECT_THROW(chat.reply(std::string(200, 'x'), o), Error);
}

// ------------------------------------------------------------------------------------
// Checkpoint files.

namespace {

fs::path write_checkpoint(const std::string& name) {
  fs::path dir = make_temp_dir("infer-" + name);
  ModelConfig cfg = tiny_config();
  cfg.save(dir / "config.json");
  auto src = random_source(1);
  std::vector<std::vector<float>> store;
  std::vector<TensorRef> refs;
  auto add = [&](const std::string& n, std::vector<int64_t> shape) {
    int64_t sz = 1;
    for (auto s : shape) sz *= s;
    store.emplace_back(sz);
    src(n, shape, store.back().data());
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
  return dir;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(EngineLoad, CheckpointRoundTripAndTokenizer) {
  fs::path dir = write_checkpoint("ok");
  byte_tokenizer()->save(dir / "tokenizer.json");
  Engine e = Engine::load(dir);
  ASSERT_NE(e.tokenizer(), nullptr);
  Engine ref = tiny_engine();
  auto ids = some_tokens(8, 12);
  std::vector<float> a(e.config().vocab_size), b(e.config().vocab_size);
  KVCache ca = e.new_cache(), cb = ref.new_cache();
  e.forward(ca, ids.data(), 8, a.data());
  ref.forward(cb, ids.data(), 8, b.data());
  EXPECT_EQ(a, b);
  fs::remove_all(dir);
}

TEST(EngineLoad, BrokenCheckpointsGiveClearErrors) {
  fs::path dir = write_checkpoint("bad");
  EXPECT_NE(error_of([&] { Engine::load(dir / "nope"); }).find("does not exist"), std::string::npos);
  // Truncated safetensors.
  std::string bytes = read_file(dir / "model.safetensors");
  atomic_write_file(dir / "model.safetensors", bytes.substr(0, bytes.size() / 2));
  std::string msg = error_of([&] { Engine::load(dir); });
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  // Garbage header.
  atomic_write_file(dir / "model.safetensors", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f garbage", 16));
  msg = error_of([&] { Engine::load(dir); });
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  // A tensor missing.
  fs::remove_all(dir);
  dir = write_checkpoint("missing");
  {
    SafeTensors st = SafeTensors::load(dir / "model.safetensors");
    std::vector<std::vector<float>> store;
    std::vector<TensorRef> refs;
    for (auto& t : st.tensors()) {
      if (t.name == "model.layers.1.mlp.up_proj.weight") continue;
      store.emplace_back(t.numel());
      st.read_f32(t.name, t.shape, store.back().data());
      refs.push_back({t.name, t.shape, nullptr});
    }
    for (size_t i = 0; i < refs.size(); ++i) refs[i].data = store[i].data();
    save_safetensors(dir / "model.safetensors", refs);
  }
  msg = error_of([&] { Engine::load(dir); });
  EXPECT_NE(msg.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  // Wrong shape: a config that disagrees with the weights.
  ModelConfig cfg = tiny_config();
  cfg.intermediate_size = 96;
  cfg.save(dir / "config.json");
  msg = error_of([&] { Engine::load(dir); });
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  // Missing and malformed config.json.
  fs::remove(dir / "config.json");
  EXPECT_NE(error_of([&] { Engine::load(dir); }).find("config.json"), std::string::npos);
  atomic_write_file(dir / "config.json", "{\"hidden_size\": ");
  EXPECT_NE(error_of([&] { Engine::load(dir); }).find("config.json"), std::string::npos);
  fs::remove(dir / "model.safetensors");
  EXPECT_NE(error_of([&] { Engine::load(dir); }).find("model.safetensors"), std::string::npos);
  fs::remove_all(dir);
}
