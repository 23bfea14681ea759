#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "veritas/model/config.hpp"
#include "veritas/model/model.hpp"
#include "veritas/model/safetensors.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/temp_dir.hpp"

using namespace veritas;

namespace {

ModelConfig small_config(bool tied, int kv_heads) {
  ModelConfig c;
  c.vocab_size = 96;
  c.hidden_size = 64;
  c.intermediate_size = 160;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = kv_heads;
  c.max_position_embeddings = 64;
  c.tie_word_embeddings = tied;
  return c;
}

// Larger-than-init weights so that every nonlinearity is exercised.
void randomize(Model& m, uint64_t seed, double scale) {
  Rng rng(seed);
  for (auto& p : m.params()) {
    for (int64_t i = 0; i < p.size; ++i)
      p.data[i] = p.shape.size() == 1 ? (float)(1.0 + 0.2 * rng.normal()) : (float)(scale * rng.normal());
  }
}

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = (char)(v >> (8 * i));
  return s;
}
std::string st_bytes(const std::string& header, const std::string& data) {
  return u64le(header.size()) + header + data;
}
// The error SafeTensors::parse gives for bytes; the header-only reader must give the same
// one for a file holding them.
std::string expect_error(const std::string& bytes) {
  std::string msg;
  try {
    SafeTensors::parse(bytes, "t.safetensors");
    ADD_FAILURE() << "no error for header";
  } catch (const Error& e) {
    msg = e.what();
  }
  const TempDir dir("veritas-st-");
  const fs::path file = dir.path() / "t.safetensors";
  atomic_write_file(file, bytes);
  try {
    read_safetensors_header(file);
    ADD_FAILURE() << "header-only read: no error for " << msg;
  } catch (const Error& e) {
    std::string header_msg = e.what();
    const size_t at = header_msg.find(file.string());
    if (at != std::string::npos) header_msg.replace(at, file.string().size(), "t.safetensors");
    EXPECT_EQ(header_msg, msg);
  }
  return msg;
}

}  // namespace

// ------------------------------------------------------------------ config

TEST(ModelConfig, JsonRoundTripAndHfFields) {
  ModelConfig c = small_config(false, 2);
  c.rope_theta = 500000.0f;
  auto dir = make_temp_dir("veritas-model-");
  c.save(dir / "config.json");
  auto j = nlohmann::json::parse(read_file(dir / "config.json"));
  EXPECT_EQ(j["model_type"], "llama");
  EXPECT_EQ(j["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(j["rms_norm_eps"].get<double>(), 1e-5);  // written as the short decimal
  ModelConfig d = ModelConfig::load(dir / "config.json");
  EXPECT_EQ(d.num_key_value_heads, 2);
  EXPECT_EQ(d.rope_theta, 500000.0f);
  EXPECT_FALSE(d.tie_word_embeddings);
  EXPECT_EQ(d.to_json(), c.to_json());
  EXPECT_TRUE(d.rope);
  EXPECT_EQ(j["position_encoding"], "rope");
  // No position encoding survives the round trip; a config without the field has rotary.
  c.rope = false;
  c.save(dir / "config.json");
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "config.json"))["position_encoding"], "none");
  EXPECT_FALSE(ModelConfig::load(dir / "config.json").rope);
  j.erase("position_encoding");
  EXPECT_TRUE(ModelConfig::from_json(j).rope);
  fs::remove_all(dir);
}

TEST(ModelConfig, ValidationNamesTheField) {
  auto j = small_config(true, 4).to_json();
  auto err = [](nlohmann::json x) -> std::string {
    try {
      ModelConfig::from_json(x);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  auto a = j;
  a["num_attention_heads"] = 5;
  EXPECT_NE(err(a).find("not divisible by num_attention_heads"), std::string::npos) << err(a);
  a = j;
  a["num_key_value_heads"] = 3;
  EXPECT_NE(err(a).find("num_key_value_heads"), std::string::npos);
  a = j;
  a["hidden_size"] = 0;
  EXPECT_NE(err(a).find("hidden_size must be positive"), std::string::npos);
  a = j;
  a.erase("vocab_size");
  EXPECT_NE(err(a).find("missing field \"vocab_size\""), std::string::npos);
  a = j;
  a["intermediate_size"] = "big";
  EXPECT_NE(err(a).find("intermediate_size"), std::string::npos);
  a = j;
  a["rms_norm_eps"] = -1;
  EXPECT_NE(err(a).find("rms_norm_eps"), std::string::npos);
  a = j;
  a["position_encoding"] = "alibi";
  EXPECT_NE(err(a).find("position_encoding must be \"rope\" or \"none\", got \"alibi\""), std::string::npos) << err(a);
  EXPECT_NE(err(nlohmann::json::array()).find("JSON object"), std::string::npos);
  // HF defaults: missing kv heads = attention heads, missing tie = false.
  a = j;
  a.erase("num_key_value_heads");
  a.erase("tie_word_embeddings");
  auto c = ModelConfig::from_json(a);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_FALSE(c.tie_word_embeddings);
}

TEST(ModelConfig, NumParamsMatchesModel) {
  for (bool tied : {true, false}) {
    ModelConfig c = small_config(tied, 2);
    Model m(c, 1, 4);
    int64_t n = 0;
    for (auto& p : m.params()) n += p.size;
    EXPECT_EQ(n, c.num_params());
  }
}

// ------------------------------------------------------------------ safetensors

TEST(SafeTensors, RoundTripWithMetadata) {
  auto dir = make_temp_dir("veritas-st-");
  std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {-1.5f};
  save_safetensors(dir / "x.safetensors", {{"a", {2, 3}, a.data()}, {"b", {1}, b.data()}}, {{"format", "pt"}});
  auto st = SafeTensors::load(dir / "x.safetensors");
  EXPECT_EQ(st.metadata().at("format"), "pt");
  ASSERT_NE(st.find("a"), nullptr);
  std::vector<float> out(6);
  st.read_f32("a", {2, 3}, out.data());
  EXPECT_EQ(out, a);
  EXPECT_THROW(st.read_f32("a", {3, 2}, out.data()), Error);
  EXPECT_THROW(st.read_f32("zz", {1}, out.data()), Error);
  // The header is padded so the data section starts 8-byte aligned.
  // The header alone gives the same tensors.
  const std::vector<TensorInfo> header = read_safetensors_header(dir / "x.safetensors");
  ASSERT_EQ(header.size(), st.tensors().size());
  for (size_t i = 0; i < header.size(); ++i) {
    EXPECT_EQ(header[i].name, st.tensors()[i].name);
    EXPECT_EQ(header[i].shape, st.tensors()[i].shape);
    EXPECT_EQ(header[i].offset, st.tensors()[i].offset);
  }
  EXPECT_THROW(read_safetensors_header(dir / "missing.safetensors"), Error);
  std::string raw = read_file(dir / "x.safetensors");
  uint64_t hlen;
  std::memcpy(&hlen, raw.data(), 8);
  EXPECT_EQ(hlen % 8, 0u);
  fs::remove_all(dir);
}

TEST(SafeTensors, HalfAndBfloatConvert) {
  // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 0x0001 = 2^-24.
  std::string f16("\x00\x3c\x00\xc0\xff\x7b\x01\x00", 8);
  // BF16: 1.0 = 0x3f80, -3.0 = 0xc040
  std::string bf16("\x80\x3f\x40\xc0", 4);
  std::string h = R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})";
  auto st = SafeTensors::parse(st_bytes(h, f16 + bf16));
  float o[4];
  st.read_f32("h", {4}, o);
  EXPECT_EQ(o[0], 1.0f);
  EXPECT_EQ(o[1], -2.0f);
  EXPECT_EQ(o[2], 65504.0f);
  EXPECT_EQ(o[3], std::ldexp(1.0f, -24));
  st.read_f32("b", {2}, o);
  EXPECT_EQ(o[0], 1.0f);
  EXPECT_EQ(o[1], -3.0f);
}

TEST(SafeTensors, RejectsMalformedFiles) {
  const std::string d8(8, '\0');
  auto has = [](const std::string& msg, const char* what) {
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_NE(msg.find("t.safetensors"), std::string::npos) << msg;
  };
  has(expect_error("abc"), "too short");
  has(expect_error(u64le(200ull << 20) + "{}"), "100 MB");
  has(expect_error(u64le(50) + "{}"), "past the end");
  has(expect_error(st_bytes("[1,2]", "")), "not a JSON object");
  has(expect_error(st_bytes("{\"a\":", "")), "invalid JSON");
  has(expect_error(st_bytes(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", d8)), "unsupported dtype");
  has(expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8)), "does not match");
  has(expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d8)), "past the data");
  has(expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", d8)), "begin");
  has(expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d8)), "trailing");
  has(expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8)), "gap");
  has(expect_error(st_bytes(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          d8)),
      "overlapping");
  has(expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", d8)), "non-negative");
  has(expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", d8)),
      "too large");
  has(expect_error(st_bytes(R"({"__metadata__":{"k":1}})", "")), "__metadata__");
  has(expect_error(st_bytes(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", d8)), "dtype");
  has(expect_error(st_bytes("{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}", "")), "nested");
  // Empty file with an empty header is valid.
  EXPECT_NO_THROW(SafeTensors::parse(st_bytes("{}", "")));
}

// ------------------------------------------------------------------ model

TEST(Model, SaveLoadChecksNamesAndShapes) {
  auto dir = make_temp_dir("veritas-model-");
  ModelConfig c = small_config(false, 2);
  Model a(c, 1, 8);
  a.init_weights(7);
  a.save(dir / "model.safetensors");
  Model b(c, 1, 8);
  b.load(dir / "model.safetensors");
  for (size_t i = 0; i < a.params().size(); ++i) {
    EXPECT_EQ(a.params()[i].name, b.params()[i].name);
    EXPECT_EQ(0, std::memcmp(a.params()[i].data, b.params()[i].data, a.params()[i].size * 4));
  }
  auto st = SafeTensors::load(dir / "model.safetensors");
  EXPECT_NE(st.find("model.layers.1.mlp.down_proj.weight"), nullptr);
  EXPECT_EQ(st.find("model.layers.1.self_attn.k_proj.weight")->shape, (std::vector<int64_t>{32, 64}));
  // A config that disagrees with the checkpoint gives a clear error.
  ModelConfig wide = c;
  wide.intermediate_size = 128;
  Model w(wide, 1, 8);
  try {
    w.load(dir / "model.safetensors");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected [128, 64]"), std::string::npos) << e.what();
  }
  ModelConfig tied = c;
  tied.tie_word_embeddings = true;
  Model t(tied, 1, 8);
  EXPECT_NO_THROW(t.load(dir / "model.safetensors"));  // an extra lm_head is ignored when tied
  t.save(dir / "tied.safetensors");
  try {
    a.load(dir / "tied.safetensors");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lm_head.weight"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Model, RejectsBadTokensAndSizes) {
  Model m(small_config(true, 4), 2, 8);
  m.init_weights(1);
  std::vector<int32_t> in(16, 1), tg(16, 2);
  EXPECT_THROW(m.forward_loss(in.data(), tg.data(), nullptr, 3, 8), Error);
  EXPECT_THROW(m.forward_loss(in.data(), tg.data(), nullptr, 2, 9), Error);
  in[5] = 96;
  EXPECT_THROW(m.forward_loss(in.data(), tg.data(), nullptr, 2, 8), Error);
  in[5] = 1;
  tg[3] = -1;
  EXPECT_THROW(m.forward_loss(in.data(), tg.data(), nullptr, 2, 8), Error);
  std::vector<float> mask(16, 1.0f);
  mask[3] = 0.0f;  // masked positions may carry any target (e.g. -1 padding)
  EXPECT_NO_THROW(m.forward_loss(in.data(), tg.data(), mask.data(), 2, 8));
}

TEST(Model, GradientsAccumulateWithScale) {
  ModelConfig c = small_config(false, 2);
  Model m(c, 2, 8);
  randomize(m, 3, 0.1);
  Rng rng(5);
  std::vector<int32_t> in(16), tg(16);
  for (auto& x : in) x = (int32_t)rng.below(96);
  for (auto& x : tg) x = (int32_t)rng.below(96);
  m.zero_grad();
  float l1 = m.forward_backward(in.data(), tg.data(), nullptr, 2, 8, 1.0f);
  std::vector<std::vector<float>> once;
  for (auto& p : m.params()) once.emplace_back(p.grad, p.grad + p.size);
  m.zero_grad();
  float l2 = m.forward_backward(in.data(), tg.data(), nullptr, 2, 8, 0.25f);
  m.forward_backward(in.data(), tg.data(), nullptr, 2, 8, 0.75f);
  EXPECT_EQ(l1, l2);
  EXPECT_NEAR(l1, m.forward_loss(in.data(), tg.data(), nullptr, 2, 8), 1e-6);
  double worst = 0;
  for (size_t i = 0; i < once.size(); ++i)
    for (int64_t j = 0; j < m.params()[i].size; ++j)
      worst = std::max(worst, (double)std::fabs(m.params()[i].grad[j] - once[i][j]));
  EXPECT_LT(worst, 1e-6);
}

TEST(Model, ForwardLogitsMatchLoss) {
  Model m(small_config(true, 2), 2, 8);
  randomize(m, 4, 0.1);
  std::vector<int32_t> in(16), tg(16);
  for (int i = 0; i < 16; ++i) in[i] = (i * 7) % 96, tg[i] = (i * 5 + 3) % 96;
  std::vector<float> logits(16 * 96);
  m.forward_logits(in.data(), 2, 8, logits.data());
  double sum = 0;
  for (int n = 0; n < 16; ++n) {
    double mx = -1e30, s = 0;
    for (int v = 0; v < 96; ++v) mx = std::max(mx, (double)logits[n * 96 + v]);
    for (int v = 0; v < 96; ++v) s += std::exp(logits[n * 96 + v] - mx);
    sum += mx + std::log(s) - logits[n * 96 + tg[n]];
  }
  EXPECT_NEAR(sum / 16, m.forward_loss(in.data(), tg.data(), nullptr, 2, 8), 1e-5);
  // Causality: changing a later token does not change earlier logits.
  std::vector<float> logits2(16 * 96);
  in[6] = (in[6] + 1) % 96;
  m.forward_logits(in.data(), 2, 8, logits2.data());
  for (int i = 0; i < 6 * 96; ++i) EXPECT_EQ(logits[i], logits2[i]);
  EXPECT_NE(logits[6 * 96], logits2[6 * 96]);
}

// A tiny model must be able to memorize one batch (Adam inside the test).
TEST(Model, OverfitsOneBatch) {
  ModelConfig c = small_config(true, 2);
  c.num_hidden_layers = 1;
  Model m(c, 2, 16);
  m.init_weights(11);
  Rng rng(9);
  std::vector<int32_t> in(32), tg(32);
  for (auto& x : in) x = (int32_t)rng.below(96);
  for (auto& x : tg) x = (int32_t)rng.below(96);
  std::vector<std::vector<float>> mom, var;
  for (auto& p : m.params()) mom.emplace_back(p.size, 0.0f), var.emplace_back(p.size, 0.0f);
  float first = 0, loss = 0;
  for (int step = 1; step <= 150; ++step) {
    m.zero_grad();
    loss = m.forward_backward(in.data(), tg.data(), nullptr, 2, 16);
    if (step == 1) first = loss;
    const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f;
    for (size_t i = 0; i < m.params().size(); ++i) {
      auto& p = m.params()[i];
      for (int64_t j = 0; j < p.size; ++j) {
        mom[i][j] = b1 * mom[i][j] + (1 - b1) * p.grad[j];
        var[i][j] = b2 * var[i][j] + (1 - b2) * p.grad[j] * p.grad[j];
        float mh = mom[i][j] / (1 - std::pow(b1, step)), vh = var[i][j] / (1 - std::pow(b2, step));
        p.data[j] -= lr * mh / (std::sqrt(vh) + 1e-8f);
      }
    }
  }
  std::printf("overfit: loss %.4f -> %.4f after 150 Adam steps\n", first, loss);
  EXPECT_GT(first, 4.0f);  // ~ln(96) at init
  EXPECT_LT(loss, 0.05f);
}

// ------------------------------------------------------------------ PyTorch reference

namespace {
void run_reference(const char* label, const ModelConfig& c, int B, int T) {
  auto dir = make_temp_dir("veritas-ref-");
  Model m(c, B, T);
  randomize(m, 21, 0.15);
  c.save(dir / "config.json");
  m.save(dir / "model.safetensors");
  Rng rng(33);
  std::vector<int32_t> in(B * T), tg(B * T);
  std::vector<float> mask(B * T);
  for (auto& x : in) x = (int32_t)rng.below(c.vocab_size);
  for (auto& x : tg) x = (int32_t)rng.below(c.vocab_size);
  // A non-trivial mask: zeros, fractional weights and ones.
  for (int i = 0; i < B * T; ++i) mask[i] = i % 5 == 0 ? 0.0f : (i % 3 == 0 ? 0.5f : 1.0f);
  nlohmann::json batch{{"B", B}, {"T", T}, {"inputs", in}, {"targets", tg}, {"mask", mask}};
  atomic_write_file(dir / "batch.json", batch.dump());

  std::string cmd = std::string("/usr/bin/python3 ") + VERITAS_SOURCE_DIR + "/tests/reference/llama_ref.py check " +
                    (dir / "").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto ref = SafeTensors::load(dir / "ref.safetensors");

  const double tol = 1e-4;
  // Error of a tensor: max |ours - ref| / max |ref| (elementwise ratios are meaningless
  // for entries near zero).
  auto rel = [](const float* a, const std::vector<float>& b) {
    double num = 0, den = 1e-30;
    for (size_t i = 0; i < b.size(); ++i) {
      num = std::max(num, (double)std::fabs(a[i] - b[i]));
      den = std::max(den, (double)std::fabs(b[i]));
    }
    return num / den;
  };
  std::vector<float> logits((size_t)B * T * c.vocab_size), rl(logits.size());
  m.forward_logits(in.data(), B, T, logits.data());
  ref.read_f32("logits", {B, T, c.vocab_size}, rl.data());
  double e_logits = rel(logits.data(), rl);
  std::vector<float> rloss(1);
  ref.read_f32("loss", {1}, rloss.data());
  m.zero_grad();
  float loss = m.forward_backward(in.data(), tg.data(), mask.data(), B, T);
  double e_loss = std::fabs(loss - rloss[0]) / std::fabs(rloss[0]);
  double e_grad = 0;
  std::string worst;
  for (auto& p : m.params()) {
    std::vector<float> g(p.size);
    ref.read_f32("grad." + p.name, p.shape, g.data());
    double e = rel(p.grad, g);
    if (e > e_grad) e_grad = e, worst = p.name;
    EXPECT_LE(e, tol) << p.name;
  }
  std::printf("%s: vs PyTorch (tolerance %.0e, max|diff|/max|ref| per tensor): logits %.2e, loss %.2e (%.6f vs %.6f),"
              " worst gradient %.2e (%s)\n",
              label, tol, e_logits, e_loss, loss, rloss[0], e_grad, worst.c_str());
  EXPECT_LE(e_logits, tol);
  EXPECT_LE(e_loss, tol);
  fs::remove_all(dir);
}
}  // namespace

TEST(PyTorchReference, GqaUntiedHead) {
  ModelConfig c = small_config(false, 2);  // 4 heads share 2 kv heads
  run_reference("GQA 4/2 heads, untied head", c, 2, 12);
}

TEST(PyTorchReference, TiedHeadMha) {
  ModelConfig c;
  c.vocab_size = 80;
  c.hidden_size = 48;
  c.intermediate_size = 128;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 3;
  c.num_key_value_heads = 3;
  c.rope_theta = 500000.0f;
  c.rms_norm_eps = 1e-6f;
  c.tie_word_embeddings = true;
  run_reference("MHA 3 heads, tied head", c, 3, 9);
}

// Sequences longer than one attention block (64 queries), multi-query attention.
TEST(PyTorchReference, LongSequenceMqa) {
  ModelConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 96;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 1;
  c.max_position_embeddings = 128;
  c.tie_word_embeddings = false;
  run_reference("MQA 4/1 heads, seq 80", c, 2, 80);
}

// No position encoding (NoPE): the reference skips the rotation; GQA, so both q and k paths
// are exercised.
TEST(PyTorchReference, NoPositionEncoding) {
  ModelConfig c = small_config(false, 2);
  c.rope = false;
  run_reference("GQA 4/2 heads, no position encoding", c, 2, 12);
}
