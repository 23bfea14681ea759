#include "veritas/infer/gguf_model.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "veritas/model/safetensors.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/pretokenize.hpp"
#include "veritas/tokenizer/spm.hpp"
#include "veritas/util/error.hpp"

namespace veritas::infer {

namespace {

std::string arch_of(const GgufFile& f) {
  std::string a = f.get_string("general.architecture");
  check(a == "llama" || a == "qwen2" || a == "gemma3",
        f.name() + ": general.architecture '" + a + "' is not supported (llama, qwen2 and gemma3 are)");
  return a;
}

int to_int(const GgufFile& f, const std::string& key, int64_t v) {
  check(v > 0 && v < (1 << 30), f.name() + ": metadata '" + key + "' = " + std::to_string(v) + " is out of range");
  return (int)v;
}

// Hugging Face name -> GGUF name, and whether its rows carry llama.cpp's rotary permutation.
// Gemma 3's names are transformers' Gemma3 ones (its post_attention_layernorm is the norm
// of the attention output; the norm before the MLP is pre_feedforward_layernorm).
bool gguf_name(const std::string& hf, std::string& out, bool& permuted, bool& is_k, bool gemma3) {
  permuted = is_k = false;
  if (hf == "model.embed_tokens.weight") return out = "token_embd.weight", true;
  if (hf == "model.norm.weight") return out = "output_norm.weight", true;
  if (hf == "lm_head.weight") return out = "output.weight", true;
  const std::string pre = "model.layers.";
  if (hf.compare(0, pre.size(), pre) != 0) return false;
  size_t dot = hf.find('.', pre.size());
  if (dot == std::string::npos) return false;
  std::string layer = hf.substr(pre.size(), dot - pre.size()), rest = hf.substr(dot + 1);
  static const std::pair<const char*, const char*> map[] = {
      {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},       {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},       {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},        {"mlp.down_proj.weight", "ffn_down.weight"}};
  static const std::pair<const char*, const char*> gemma_map[] = {
      {"post_attention_layernorm.weight", "post_attention_norm.weight"},
      {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
      {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"}};
  if (gemma3)
    for (auto& [h, g] : gemma_map)
      if (rest == h) return out = "blk." + layer + "." + g, true;
  for (auto& [h, g] : map)
    if (rest == h) {
      out = "blk." + layer + "." + g;
      permuted = rest == "self_attn.q_proj.weight" || rest == "self_attn.k_proj.weight";
      is_k = rest == "self_attn.k_proj.weight";
      return true;
    }
  return false;
}

}  // namespace

ModelConfig gguf_config(const GgufFile& f) {
  const std::string a = arch_of(f);
  ModelConfig c;
  c.hidden_size = to_int(f, a + ".embedding_length", f.get_int(a + ".embedding_length"));
  c.intermediate_size = to_int(f, a + ".feed_forward_length", f.get_int(a + ".feed_forward_length"));
  c.num_hidden_layers = to_int(f, a + ".block_count", f.get_int(a + ".block_count"));
  c.num_attention_heads = to_int(f, a + ".attention.head_count", f.get_int(a + ".attention.head_count"));
  c.num_key_value_heads =
      to_int(f, a + ".attention.head_count_kv", f.get_int_or(a + ".attention.head_count_kv", c.num_attention_heads));
  c.max_position_embeddings = to_int(f, a + ".context_length", f.get_int_or(a + ".context_length", 4096));
  c.rope_theta = (float)f.get_float_or(a + ".rope.freq_base", 10000.0);
  c.rms_norm_eps = (float)f.get_float_or(a + ".attention.layer_norm_rms_epsilon", 1e-5);
  const GgufTensor* emb = f.find("token_embd.weight");
  check(emb && emb->dims.size() == 2, f.name() + ": missing 2-d tensor 'token_embd.weight'");
  c.vocab_size = to_int(f, "token_embd.weight dims[1]", emb->dims[1]);
  c.tie_word_embeddings = f.find("output.weight") == nullptr;
  c.attention_bias = a == "qwen2";
  if (a == "gemma3") {
    // Per head size from key_length (640 / 4 = 160 is not Gemma 3 270M's 256); the rest as
    // llama.cpp and transformers' Gemma3 config fix them: the attention scale
    // 1/sqrt(head size), a 6-layer pattern (5 sliding, 1 global), local rotary base 10000.
    c.head_dim_override = to_int(f, a + ".attention.key_length", f.get_int(a + ".attention.key_length"));
    c.gemma3 = true;
    c.query_pre_attn_scalar = (float)c.head_dim_override;
    c.sliding_window = to_int(f, a + ".attention.sliding_window", f.get_int(a + ".attention.sliding_window"));
    c.sliding_pattern = 6;
    c.rope_local_theta = 10000.0f;
    for (const char* k : {".final_logit_softcapping", ".attn_logit_softcapping"})
      check(!f.get(a + k), f.name() + ": " + a + k + " (Gemma 2 softcapping) is not supported");
  }
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(f.name() + ": " + e.what());
  }
  // What veritas's decoder does not implement is refused, not approximated.
  const int hd = c.head_dim();
  check(f.get_int_or(a + ".rope.dimension_count", hd) == hd,
        f.name() + ": " + a + ".rope.dimension_count differs from the head size (partial rotary is not supported)");
  check(f.get_int_or(a + ".attention.key_length", hd) == hd && f.get_int_or(a + ".attention.value_length", hd) == hd,
        f.name() + ": attention key/value length differs from " +
            (c.gemma3 ? "each other" : "embedding_length / head_count") + " (not supported)");
  if (const GgufValue* s = f.get(a + ".rope.scaling.type"))
    check(s->kind == GgufValue::String && (s->s == "none" || s->s.empty()),
          f.name() + ": " + a + ".rope.scaling.type '" + s->s + "' is not supported");
  check(!f.find("rope_freqs.weight"), f.name() + ": tensor 'rope_freqs.weight' (Llama 3.1 rope scaling) is not supported");
  // The metadata's sizes must be the tensors' (a corrupt count is an error, not gigabytes
  // allocated before the first tensor is read).
  c.check_stored_shapes(
      [&](const std::string& hf) -> std::optional<StoredTensor> {
        std::string name;
        bool permuted, is_k;
        const GgufTensor* t = gguf_name(hf, name, permuted, is_k, c.gemma3) ? f.find(name) : nullptr;
        if (!t) return std::nullopt;
        return StoredTensor{name, std::vector<int64_t>(t->dims.rbegin(), t->dims.rend())};  // GGUF dims reversed
      },
      f.name());
  return c;
}

WeightSource gguf_weights(const GgufFile& f, const ModelConfig& cfg) {
  const bool llama = arch_of(f) == "llama";
  return [&f, cfg, llama](const std::string& hf, const std::vector<int64_t>& shape, float* dst) {
    std::string name;
    bool permuted, is_k;
    if (!gguf_name(hf, name, permuted, is_k, cfg.gemma3)) return false;
    const GgufTensor* t = f.find(name);
    // Only the untied head may be absent (the caller then ties it); any other tensor the
    // decoder asks for is named here with the file.
    check(t || name == "output.weight", f.name() + ": missing tensor '" + name + "' (" + hf + ")");
    if (!t) return false;
    // GGUF dims are PyTorch's shape reversed.
    std::vector<int64_t> want(shape.rbegin(), shape.rend());
    check(t->dims == want,
          f.name() + ": tensor '" + name + "' has dims " + shape_str(t->dims) + ", expected " + shape_str(want));
    int64_t n = t->numel();
    if (!(llama && permuted)) {
      f.read_f32(name, n, dst);
      f.release(*t);
      return true;
    }
    const int heads = is_k ? cfg.num_key_value_heads : cfg.num_attention_heads, hd = cfg.head_dim(), half = hd / 2;
    const int64_t cols = t->dims[0];
    std::vector<float> tmp((size_t)n);
    f.read_f32(name, n, tmp.data());
    f.release(*t);
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < half; ++i)
        for (int s = 0; s < 2; ++s)
          std::memcpy(dst + (size_t)(h * hd + s * half + i) * cols, tmp.data() + (size_t)(h * hd + 2 * i + s) * cols,
                      cols * sizeof(float));
    return true;
  };
}

BlockSource gguf_blocks(const GgufFile& f, const ModelConfig& cfg) {
  const bool llama = arch_of(f) == "llama";
  return [&f, cfg, llama](const std::string& hf, const std::vector<int64_t>& shape, Precision& p,
                          std::vector<uint8_t>& rows) {
    std::string name;
    bool permuted, is_k;
    if (!gguf_name(hf, name, permuted, is_k, cfg.gemma3)) return false;
    const GgufTensor* t = f.find(name);
    if (!t || t->dims.size() != 2 || shape.size() != 2 || t->dims[0] != shape[1] || t->dims[1] != shape[0]) return false;
    switch ((GgmlType)t->type) {
      case GgmlType::Q8_0: p = Precision::Q8_0; break;
      case GgmlType::Q4_0: p = Precision::Q4_0; break;
      case GgmlType::Q4_1: p = Precision::Q4_1; break;
      case GgmlType::Q5_0: p = Precision::Q5_0; break;
      case GgmlType::Q4_K: p = Precision::Q4_K; break;
      case GgmlType::Q5_K: p = Precision::Q5_K; break;
      case GgmlType::Q6_K: p = Precision::Q6_K; break;
      case GgmlType::F16: p = Precision::F16; break;  // rows of halves, read by qblocks_f16.cpp
      default: return false;
    }
    const uint8_t* src = f.data(*t);
    rows.resize(t->nbytes);
    const size_t rb = t->nbytes / t->dims[1];
    if (!(llama && permuted)) {
      std::memcpy(rows.data(), src, t->nbytes);
      f.release(*t);
      return true;
    }
    const int heads = is_k ? cfg.num_key_value_heads : cfg.num_attention_heads, hd = cfg.head_dim(), half = hd / 2;
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < half; ++i)
        for (int s = 0; s < 2; ++s)
          std::memcpy(rows.data() + (size_t)(h * hd + s * half + i) * rb, src + (size_t)(h * hd + 2 * i + s) * rb, rb);
    f.release(*t);
    return true;
  };
}

std::optional<PreTokenization> gguf_pre_tokenization(const std::string& pre) {
  if (pre == "smollm") return PreTokenization::Gpt2Digits;
  if (pre == "gpt2" || pre == "gpt-2") return PreTokenization::Gpt2;
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") return PreTokenization::Llama3;
  if (pre == "qwen2") return PreTokenization::Qwen2;
  return std::nullopt;
}

namespace {

// tokenizer.ggml.model "llama": SentencePiece-style pieces with scores (spm.hpp). llama.cpp
// ignores tokenizer.ggml.pre for this model and prefixes a space unless
// tokenizer.ggml.add_space_prefix is false (Gemma 3 sets it false).
Tokenizer gguf_spm_tokenizer(const GgufFile& f) {
  spm::Model m;
  m.pieces = f.get_array("tokenizer.ggml.tokens", GgufValue::String).strs;
  const size_t n = m.pieces.size();
  const auto& scores = f.get_array("tokenizer.ggml.scores", GgufValue::F32).floats;
  const auto& types = f.get_array("tokenizer.ggml.token_type", GgufValue::I32).ints;
  check(scores.size() == n, f.name() + ": tokenizer.ggml.scores has " + std::to_string(scores.size()) +
                                " entries for " + std::to_string(n) + " tokens");
  check(types.size() == n, f.name() + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                               " entries for " + std::to_string(n) + " tokens");
  m.scores.assign(scores.begin(), scores.end());
  m.special.resize(n);
  m.control.resize(n);
  for (size_t id = 0; id < n; ++id) {
    // Token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. llama.cpp
    // with special=true cuts control, user-defined and unknown tokens out of the text whole.
    m.control[id] = types[id] == 3;
    m.special[id] = types[id] == 2 || types[id] == 3 || types[id] == 4;
  }
  if (f.get("tokenizer.ggml.add_space_prefix")) m.add_space_prefix = f.get_int("tokenizer.ggml.add_space_prefix") != 0;
  else m.add_space_prefix = true;
  Tokenizer tok = Tokenizer::from_spm(std::move(m), f.name());
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.bos_token_id"}) {
    if (!f.get(key)) continue;
    const int64_t id = f.get_int(key);
    check(id >= 0 && id < (int64_t)n, f.name() + ": " + key + " " + std::to_string(id) + " is outside the vocabulary");
    if (std::string(key) == "tokenizer.ggml.eos_token_id") tok.set_eos_id((int32_t)id);
    else if (f.get_int_or("tokenizer.ggml.add_bos_token", 1) != 0) tok.set_bos_id((int32_t)id);
  }
  return tok;
}

}  // namespace

Tokenizer gguf_tokenizer(const GgufFile& f) {
  const std::string model = f.get_string("tokenizer.ggml.model");
  check(model == "gpt2" || model == "llama", f.name() + ": tokenizer.ggml.model '" + model +
                                                 "' is not supported (byte-level BPE 'gpt2', SentencePiece-style 'llama')");
  if (model == "llama") {
    Tokenizer tok = gguf_spm_tokenizer(f);
    if (f.get("tokenizer.chat_template")) {
      std::string jinja = f.get_string("tokenizer.chat_template");
      recognize_chat_template(jinja, f.name() + ": tokenizer.chat_template");
      tok.set_chat_template(jinja);
    }
    return tok;
  }
  // llama.cpp reads a missing key, or "default", as its own fallback split (four patterns in
  // sequence, none of the ones below). Guessing another split would give different ids.
  check(f.get("tokenizer.ggml.pre") != nullptr,
        f.name() + ": tokenizer.ggml.pre is missing (llama.cpp would fall back to its 'default' "
                   "split, which is not supported; supported: smollm, gpt2, gpt-2, llama-bpe, qwen2)");
  const std::string pre = f.get_string("tokenizer.ggml.pre");
  std::optional<PreTokenization> known = gguf_pre_tokenization(pre);
  check(known.has_value(), f.name() + ": tokenizer.ggml.pre '" + pre +
                               "' is not supported (smollm, gpt2, gpt-2, llama-bpe, qwen2)");
  const PreTokenization pt = *known;
  const auto& toks = f.get_array("tokenizer.ggml.tokens", GgufValue::String).strs;
  const GgufValue* types = f.get("tokenizer.ggml.token_type");
  if (types) {
    f.get_array("tokenizer.ggml.token_type", GgufValue::I32);
    check(types->ints.size() == toks.size(), f.name() + ": tokenizer.ggml.token_type has " +
                                                 std::to_string(types->ints.size()) + " entries for " +
                                                 std::to_string(toks.size()) + " tokens");
  }
  std::vector<std::string> bytes(toks.size());
  std::vector<AddedToken> added;
  std::string raw;
  for (size_t id = 0; id < toks.size(); ++id) {
    // Token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    const int64_t type = types ? types->ints[id] : 1;
    const bool decodable = bpe::token_string_to_bytes(toks[id], raw);
    if (type == 3 || type == 4) {
      check(!toks[id].empty(), f.name() + ": tokenizer.ggml.tokens[" + std::to_string(id) + "] is empty");
      added.push_back({(int32_t)id, toks[id], type == 3});
      if (decodable && toks[id] == raw) bytes[id] = raw;  // also a BPE token, as GPT-2's <|endoftext|>
      continue;
    }
    if (type == 5) continue;
    check(decodable, f.name() + ": tokenizer.ggml.tokens[" + std::to_string(id) + "] \"" + toks[id] +
                         "\" has a character outside the byte-level alphabet");
    bytes[id] = raw;
  }
  std::unordered_map<std::string, int32_t> ids;
  for (int32_t id = 0; id < (int32_t)bytes.size(); ++id)
    if (!bytes[id].empty()) ids.emplace(bytes[id], id);
  const auto& ms = f.get_array("tokenizer.ggml.merges", GgufValue::String).strs;
  std::vector<std::pair<int32_t, int32_t>> merges;
  merges.reserve(ms.size());
  for (size_t r = 0; r < ms.size(); ++r) {
    const std::string& s = ms[r];
    size_t sp = s.find(' ');
    check(sp != std::string::npos && sp > 0 && sp + 1 < s.size() && s.find(' ', sp + 1) == std::string::npos,
          f.name() + ": tokenizer.ggml.merges[" + std::to_string(r) + "] \"" + s + "\" is not two tokens and one space");
    int32_t pair[2];
    for (int k = 0; k < 2; ++k) {
      std::string part = k ? s.substr(sp + 1) : s.substr(0, sp);
      bool ok = bpe::token_string_to_bytes(part, raw);
      auto it = ok ? ids.find(raw) : ids.end();
      check(it != ids.end(), f.name() + ": tokenizer.ggml.merges[" + std::to_string(r) + "]: \"" + part +
                                 "\" is not a token");
      pair[k] = it->second;
    }
    merges.emplace_back(pair[0], pair[1]);
  }
  Tokenizer tok;
  try {
    tok = Tokenizer::from_bpe(bytes, merges, added, /*require_all_bytes=*/false);
  } catch (const Error& e) {
    throw Error(f.name() + ": tokenizer: " + e.what());
  }
  tok.set_pre_tokenization(pt);
  if (f.get("tokenizer.ggml.eos_token_id")) {
    int64_t eos = f.get_int("tokenizer.ggml.eos_token_id");
    check(eos >= 0 && eos < tok.vocab_size(), f.name() + ": tokenizer.ggml.eos_token_id " + std::to_string(eos) +
                                                  " is outside the vocabulary");
    tok.set_eos_id((int32_t)eos);
  }
  if (f.get("tokenizer.chat_template")) {
    std::string jinja = f.get_string("tokenizer.chat_template");
    recognize_chat_template(jinja, f.name() + ": tokenizer.chat_template");  // an unknown template fails here
    tok.set_chat_template(jinja);
  }
  return tok;
}

}  // namespace veritas::infer
