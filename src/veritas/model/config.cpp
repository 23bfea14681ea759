#include "veritas/model/config.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "veritas/model/safetensors.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace veritas {

int64_t ModelConfig::num_params() const {
  const int64_t C = hidden_size, I = intermediate_size, V = vocab_size;
  const int64_t KV = (int64_t)num_key_value_heads * head_dim();
  const int64_t per_layer = 2 * C + C * C * 2 + 2 * C * KV + 3 * C * I;
  return V * C + num_hidden_layers * per_layer + C + (tie_word_embeddings ? 0 : V * C);
}

void ModelConfig::validate() const {
  auto positive = [](int v, const char* name) {
    check(v > 0, std::string("config: ") + name + " must be positive, got " + std::to_string(v));
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(num_attention_heads, "num_attention_heads");
  positive(num_key_value_heads, "num_key_value_heads");
  positive(max_position_embeddings, "max_position_embeddings");
  check(head_dim_override > 0 || hidden_size % num_attention_heads == 0,
        "config: hidden_size " + std::to_string(hidden_size) + " is not divisible by num_attention_heads " +
            std::to_string(num_attention_heads));
  check(num_attention_heads % num_key_value_heads == 0,
        "config: num_attention_heads " + std::to_string(num_attention_heads) +
            " is not divisible by num_key_value_heads " + std::to_string(num_key_value_heads));
  // RoPE rotates pairs (i, i + head_dim/2), so the head dimension must be even.
  check(head_dim() % 2 == 0, "config: head_dim (hidden_size / num_attention_heads) = " +
                                 std::to_string(head_dim()) + " must be even for rotary embeddings");
  check(std::isfinite(rope_theta) && rope_theta > 0, "config: rope_theta must be a positive number");
  check(std::isfinite(rms_norm_eps) && rms_norm_eps > 0, "config: rms_norm_eps must be a positive number");
}

void ModelConfig::check_stored_shapes(const StoredTensorOf& stored, const std::string& origin) const {
  const int64_t H = hidden_size, I = intermediate_size, hd = head_dim();
  auto expect = [&](const std::string& hf, const std::vector<int64_t>& want, const std::string& fields) {
    std::optional<StoredTensor> t = stored(hf);
    check(t.has_value(), origin + ": missing tensor '" + hf + "' (the config: " + fields + ")");
    check(t->shape == want, origin + ": tensor '" + t->name + "' has shape " + shape_str(t->shape) + ", but the config (" +
                                fields + ") implies " + shape_str(want));
  };
  const std::string h = "hidden_size " + std::to_string(H);
  expect("model.embed_tokens.weight", {vocab_size, H}, "vocab_size " + std::to_string(vocab_size) + ", " + h);
  const std::string l0 = "model.layers.0.";
  expect(l0 + "self_attn.q_proj.weight", {num_attention_heads * hd, H},
         "num_attention_heads " + std::to_string(num_attention_heads) + ", head size " + std::to_string(hd) + ", " + h);
  expect(l0 + "self_attn.k_proj.weight", {num_key_value_heads * hd, H},
         "num_key_value_heads " + std::to_string(num_key_value_heads) + ", head size " + std::to_string(hd) + ", " + h);
  expect(l0 + "mlp.down_proj.weight", {H, I}, h + ", intermediate_size " + std::to_string(I));
  expect("model.layers." + std::to_string(num_hidden_layers - 1) + ".input_layernorm.weight", {H},
         "num_hidden_layers " + std::to_string(num_hidden_layers) + ", " + h);
}

void ModelConfig::check_stored_shapes(const std::vector<TensorInfo>& tensors, const std::string& origin) const {
  check_stored_shapes(
      [&](const std::string& name) -> std::optional<StoredTensor> {
        for (const TensorInfo& t : tensors)
          if (t.name == name) return StoredTensor{name, t.shape};
        return std::nullopt;
      },
      origin);
}

void ModelConfig::check_safetensors(const std::filesystem::path& file) const {
  check_stored_shapes(read_safetensors_header(file), file.string());
}

namespace {
template <class T>
void read_field(const nlohmann::json& j, const char* key, T& out, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    check(!required, std::string("config: missing field \"") + key + "\"");
    return;
  }
  if constexpr (std::is_same_v<T, bool>) {
    check(it->is_boolean(), std::string("config: field \"") + key + "\" must be true or false");
    out = it->get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    check(it->is_number_integer() || (it->is_number_float() && std::floor(it->get<double>()) == it->get<double>()),
          std::string("config: field \"") + key + "\" must be an integer, got " + it->dump());
    double v = it->get<double>();
    check(v >= -2147483648.0 && v <= 2147483647.0, std::string("config: field \"") + key + "\" is out of range");
    out = (T)v;
  } else {
    check(it->is_number(), std::string("config: field \"") + key + "\" must be a number, got " + it->dump());
    out = (T)it->get<double>();
  }
}
}  // namespace

ModelConfig ModelConfig::from_json(const nlohmann::json& j) {
  check(j.is_object(), "config: expected a JSON object");
  ModelConfig c;
  read_field(j, "vocab_size", c.vocab_size, true);
  read_field(j, "hidden_size", c.hidden_size, true);
  read_field(j, "intermediate_size", c.intermediate_size, true);
  read_field(j, "num_hidden_layers", c.num_hidden_layers, true);
  read_field(j, "num_attention_heads", c.num_attention_heads, true);
  // HF defaults: num_key_value_heads = num_attention_heads, tie_word_embeddings = false.
  c.num_key_value_heads = c.num_attention_heads;
  read_field(j, "num_key_value_heads", c.num_key_value_heads, false);
  read_field(j, "max_position_embeddings", c.max_position_embeddings, false);
  read_field(j, "rope_theta", c.rope_theta, false);
  if (j.contains("position_encoding") && !j["position_encoding"].is_null()) {
    const auto& pe = j["position_encoding"];
    check(pe.is_string() && (pe == "rope" || pe == "none"),
          "config: position_encoding must be \"rope\" or \"none\", got " + pe.dump());
    c.rope = pe == "rope";
  }
  read_field(j, "rms_norm_eps", c.rms_norm_eps, false);
  c.tie_word_embeddings = false;
  read_field(j, "tie_word_embeddings", c.tie_word_embeddings, false);
  if (j.contains("hidden_act") && j["hidden_act"].is_string()) {
    std::string act = j["hidden_act"];
    check(act == "silu", "config: hidden_act \"" + act + "\" is not supported (only silu)");
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    throw Error("config: rope_scaling is not supported");
  if (j.contains("attention_bias") && j["attention_bias"].is_boolean() && j["attention_bias"].get<bool>())
    throw Error("config: attention_bias = true is not supported");
  c.validate();
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    check(j["head_dim"].is_number_integer() && j["head_dim"].get<int64_t>() == c.head_dim(),
          "config: head_dim other than hidden_size / num_attention_heads is not supported");
  }
  return c;
}

namespace {
// The shortest decimal that reads back as the same float, so 1e-5f is written as 1e-05
// rather than 9.999999747378752e-06.
double short_float(float v) {
  char buf[64];
  for (int prec = 1; prec <= 9; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
    double d = std::strtod(buf, nullptr);
    if ((float)d == v) return d;
  }
  return v;
}
}  // namespace

nlohmann::json ModelConfig::to_json() const {
  return nlohmann::json{{"architectures", {"LlamaForCausalLM"}},
                        {"model_type", "llama"},
                        {"torch_dtype", "float32"},
                        {"hidden_act", "silu"},
                        {"attention_bias", false},
                        {"vocab_size", vocab_size},
                        {"hidden_size", hidden_size},
                        {"intermediate_size", intermediate_size},
                        {"num_hidden_layers", num_hidden_layers},
                        {"num_attention_heads", num_attention_heads},
                        {"num_key_value_heads", num_key_value_heads},
                        {"head_dim", head_dim()},
                        {"max_position_embeddings", max_position_embeddings},
                        {"rope_theta", short_float(rope_theta)},
                        {"position_encoding", rope ? "rope" : "none"},
                        {"rms_norm_eps", short_float(rms_norm_eps)},
                        {"tie_word_embeddings", tie_word_embeddings}};
}

ModelConfig ModelConfig::load(const std::filesystem::path& config_json) {
  std::string text = read_file(config_json);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(config_json.string() + ": invalid JSON: " + e.what());
  }
  try {
    return from_json(j);
  } catch (const Error& e) {
    throw Error(config_json.string() + ": " + e.what());
  }
}

ModelConfig ModelConfig::load_checkpoint(const std::filesystem::path& dir) {
  ModelConfig c = load(dir / "config.json");
  c.check_safetensors(dir / "model.safetensors");
  return c;
}

void ModelConfig::save(const std::filesystem::path& config_json) const {
  atomic_write_file(config_json, to_json().dump(2) + "\n");
}

}  // namespace veritas
