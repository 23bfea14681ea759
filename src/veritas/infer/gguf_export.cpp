#include "veritas/infer/gguf_export.hpp"

#include <cstring>
#include <optional>
#include <set>

#include "veritas/model/gguf.hpp"
#include "veritas/model/safetensors.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/pretokenize.hpp"
#include "veritas/util/error.hpp"

namespace veritas::infer {

namespace fs = std::filesystem;

namespace {

// llama.cpp's general.file_type (LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_Q8_0).
uint32_t file_type(GgmlType t) { return t == GgmlType::F32 ? 0 : t == GgmlType::F16 ? 1 : 7; }

void add_tokenizer(GgufWriter& w, const Tokenizer& tok, int vocab) {
  check(tok.vocab_size() <= vocab, "the tokenizer has " + std::to_string(tok.vocab_size()) +
                                       " tokens, more than the model's vocab_size " + std::to_string(vocab));
  std::vector<std::string> tokens(vocab);
  std::vector<int64_t> types(vocab, 5);  // 1 normal, 3 control, 4 user-defined, 5 unused
  std::set<int32_t> added;
  for (const AddedToken& a : tok.added_tokens()) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4;
    added.insert(a.id);
  }
  for (int32_t id = 0; id < vocab; ++id) {
    if (added.count(id)) continue;
    std::string bytes;
    bool present = id < tok.vocab_size();
    if (present) {
      try {
        bytes = tok.token_bytes(id);
      } catch (const Error&) {
        present = false;  // an id the tokenizer leaves empty
      }
    }
    if (present && !bytes.empty()) {
      tokens[id] = bpe::bytes_to_token_string(bytes);
      types[id] = 1;
    } else {
      tokens[id] = "[PAD" + std::to_string(id) + "]";
    }
  }
  std::vector<std::string> merges;
  merges.reserve(tok.merges().size());
  for (auto [a, b] : tok.merges())
    merges.push_back(bpe::bytes_to_token_string(tok.token_bytes(a)) + " " + bpe::bytes_to_token_string(tok.token_bytes(b)));
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", tok.pre_tokenization() == PreTokenization::Gpt2Digits ? "smollm" : "gpt-2");
  w.set_strings("tokenizer.ggml.tokens", std::move(tokens));
  w.set_ints("tokenizer.ggml.token_type", GgufValue::I32, std::move(types));
  w.set_strings("tokenizer.ggml.merges", std::move(merges));
  std::optional<int32_t> eos = tok.eos_id();
  if (!eos) eos = tok.token_id(kEndOfText);
  if (eos) {
    w.set_u32("tokenizer.ggml.bos_token_id", (uint32_t)*eos);
    w.set_u32("tokenizer.ggml.eos_token_id", (uint32_t)*eos);
  }
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
  std::string jinja = tok.chat_template();
  if (jinja.empty() && tok.token_id(kUser) && tok.token_id(kAssistant) && tok.token_id(kSystem) &&
      tok.token_id(kEndOfTurn))
    jinja = veritas_chat_template_jinja();
  if (!jinja.empty()) {
    w.set_string("tokenizer.chat_template", jinja);
    const char* eot = chat_template_of(tok).end_of_turn();
    if (auto id = tok.token_id(eot)) w.set_u32("tokenizer.ggml.eot_token_id", (uint32_t)*id);
  }
}

}  // namespace

void export_gguf(const ModelConfig& cfg, const ExportSource& weights, const Tokenizer& tok, GgmlType type,
                 const std::string& name, const fs::path& out) {
  check(type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::Q8_0,
        "export: type " + ggml_type_name((uint32_t)type) + " is not supported (f32, f16, q8_0)");
  check(!cfg.attention_bias, "export: q/k/v biases (qwen2) are not supported by the llama architecture");
  check(cfg.rope, "export: a model without position encoding (position_encoding none) has no GGUF form: "
                  "llama.cpp would apply rotary embeddings to it");
  cfg.validate();
  const int H = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size, hd = cfg.head_dim();
  const int kvd = cfg.num_key_value_heads * hd;
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", name);
  w.set_u32("general.file_type", file_type(type));
  w.set_u32("llama.context_length", (uint32_t)cfg.max_position_embeddings);
  w.set_u32("llama.embedding_length", (uint32_t)H);
  w.set_u32("llama.block_count", (uint32_t)cfg.num_hidden_layers);
  w.set_u32("llama.feed_forward_length", (uint32_t)I);
  w.set_u32("llama.attention.head_count", (uint32_t)cfg.num_attention_heads);
  w.set_u32("llama.attention.head_count_kv", (uint32_t)cfg.num_key_value_heads);
  w.set_u32("llama.rope.dimension_count", (uint32_t)hd);
  w.set_f32("llama.rope.freq_base", cfg.rope_theta);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", cfg.rms_norm_eps);
  w.set_u32("llama.vocab_size", (uint32_t)V);
  add_tokenizer(w, tok, V);

  std::vector<float> buf, perm;
  // heads > 0: q/k rows, permuted for llama.cpp's adjacent-pair rotary.
  auto tensor = [&](const std::string& hf, const std::string& gg, std::vector<int64_t> shape, int heads = 0) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    buf.assign((size_t)n, 0.0f);
    check(weights(hf, shape, buf.data()), "export: missing tensor '" + hf + "'");
    if (heads > 0) {
      const int64_t cols = shape[1];
      const int half = hd / 2;
      perm.resize(buf.size());
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < half; ++i)
          for (int t = 0; t < 2; ++t)
            std::memcpy(perm.data() + (size_t)(h * hd + 2 * i + t) * cols,
                        buf.data() + (size_t)(h * hd + t * half + i) * cols, cols * sizeof(float));
      buf.swap(perm);
    }
    GgmlType tt = shape.size() == 1 ? GgmlType::F32 : type;
    if (tt == GgmlType::Q8_0 && shape.back() % 32 != 0) tt = GgmlType::F16;
    w.add_tensor(gg, std::vector<int64_t>(shape.rbegin(), shape.rend()), tt, buf.data());
  };
  tensor("model.embed_tokens.weight", "token_embd.weight", {V, H});
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".", g = "blk." + std::to_string(l) + ".";
    tensor(p + "input_layernorm.weight", g + "attn_norm.weight", {H});
    tensor(p + "self_attn.q_proj.weight", g + "attn_q.weight", {H, H}, cfg.num_attention_heads);
    tensor(p + "self_attn.k_proj.weight", g + "attn_k.weight", {kvd, H}, cfg.num_key_value_heads);
    tensor(p + "self_attn.v_proj.weight", g + "attn_v.weight", {kvd, H});
    tensor(p + "self_attn.o_proj.weight", g + "attn_output.weight", {H, H});
    tensor(p + "post_attention_layernorm.weight", g + "ffn_norm.weight", {H});
    tensor(p + "mlp.gate_proj.weight", g + "ffn_gate.weight", {I, H});
    tensor(p + "mlp.up_proj.weight", g + "ffn_up.weight", {I, H});
    tensor(p + "mlp.down_proj.weight", g + "ffn_down.weight", {H, I});
  }
  tensor("model.norm.weight", "output_norm.weight", {H});
  if (!cfg.tie_word_embeddings) tensor("lm_head.weight", "output.weight", {V, H});
  w.save(out);
}

void export_checkpoint_gguf(const fs::path& checkpoint, const fs::path& tokenizer_json, GgmlType type,
                            const fs::path& out) {
  fs::path dir = checkpoint;
  std::error_code ec;
  if (!fs::exists(dir / "config.json", ec) && fs::exists(dir / "checkpoint" / "config.json", ec))
    dir = dir / "checkpoint";  // a training run's folder
  const fs::path cfg_path = dir / "config.json", st_path = dir / "model.safetensors";
  check(fs::exists(cfg_path, ec), cfg_path.string() + ": missing (a checkpoint needs config.json)");
  check(fs::exists(st_path, ec), st_path.string() + ": missing (a checkpoint needs model.safetensors)");
  const fs::path tok_path = tokenizer_json.empty() ? dir / "tokenizer.json" : tokenizer_json;
  check(fs::exists(tok_path, ec), tok_path.string() + ": missing (a GGUF file carries the tokenizer; give one with --tokenizer)");
  ModelConfig cfg = ModelConfig::load(cfg_path);
  SafeTensors st = SafeTensors::load(st_path);
  cfg.check_stored_shapes(st.tensors(), st_path.string());  // before buffers are sized from config.json
  Tokenizer tok = Tokenizer::load(tok_path);
  auto src = [&](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
    if (!st.find(name)) return false;
    st.read_f32(name, shape, dst);
    return true;
  };
  fs::path abs = fs::absolute(checkpoint, ec);
  std::string name = (abs.filename().empty() ? abs.parent_path() : abs).filename().string();
  try {
    export_gguf(cfg, src, tok, type, name.empty() ? "veritas" : name, out);
  } catch (const Error& e) {
    throw Error(dir.string() + ": " + e.what());
  }
}

}  // namespace veritas::infer
