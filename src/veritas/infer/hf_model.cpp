#include "veritas/infer/hf_model.hpp"

#include <nlohmann/json.hpp>

#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace fs = std::filesystem;

namespace veritas::infer {

namespace {

nlohmann::json read_json(const fs::path& p) {
  try {
    return nlohmann::json::parse(read_file(p));
  } catch (const nlohmann::json::exception& e) {
    throw Error(p.string() + ": invalid JSON: " + e.what());
  }
}

}  // namespace

ModelConfig hf_config(const fs::path& dir) {
  const fs::path p = dir / "config.json";
  check(fs::exists(p), p.string() + ": missing (a checkpoint needs config.json)");
  nlohmann::json j = read_json(p);
  std::string arch = "LlamaForCausalLM";
  if (j.is_object() && j.contains("architectures")) {
    const auto& a = j["architectures"];
    check(a.is_array() && a.size() == 1 && a[0].is_string(),
          p.string() + ": architectures must be a list of one name, found " + a.dump().substr(0, 200));
    arch = a[0].get<std::string>();
  }
  check(arch == "LlamaForCausalLM" || arch == "Qwen2ForCausalLM",
        p.string() + ": architectures '" + arch + "' is not supported (LlamaForCausalLM, Qwen2ForCausalLM)");
  const bool qwen2 = arch == "Qwen2ForCausalLM";
  if (qwen2) {
    check(!j.value("use_sliding_window", false), p.string() + ": use_sliding_window = true is not supported");
    j.erase("attention_bias");  // Qwen2 always has q/k/v biases; the field is not Qwen2's
  }
  // transformers 5 writes rope_theta inside rope_parameters.
  if (j.is_object() && j.contains("rope_parameters") && !j["rope_parameters"].is_null()) {
    const auto& rp = j["rope_parameters"];
    check(rp.is_object() && rp.value("rope_type", std::string("default")) == "default",
          p.string() + ": rope_parameters " + rp.dump().substr(0, 200) + " is not supported (only rope_type default)");
    if (rp.contains("rope_theta")) j["rope_theta"] = rp["rope_theta"];
  }
  ModelConfig cfg;
  try {
    cfg = ModelConfig::from_json(j);
  } catch (const Error& e) {
    throw Error(p.string() + ": " + e.what());
  }
  cfg.attention_bias = qwen2;
  return cfg;
}

HfWeights HfWeights::open(const fs::path& dir) {
  HfWeights w;
  const fs::path single = dir / "model.safetensors", index = dir / "model.safetensors.index.json";
  if (fs::exists(single)) {
    w.name_ = single.string();
    w.paths_.push_back(w.name_);
    w.shards_.push_back(std::make_shared<SafeTensors>(SafeTensors::load(single)));
    for (const auto& t : w.shards_[0]->tensors()) w.where_.emplace(t.name, 0);
    return w;
  }
  check(fs::exists(index), single.string() + ": missing (a checkpoint needs model.safetensors or "
                                             "model.safetensors.index.json)");
  w.name_ = index.string();
  nlohmann::json j = read_json(index);
  check(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
        w.name_ + ": missing \"weight_map\" object");
  std::unordered_map<std::string, int> shard_of_file;
  for (auto& [tensor, file] : j["weight_map"].items()) {
    check(file.is_string(), w.name_ + ": weight_map[\"" + tensor + "\"] must be a file name");
    const std::string f = file.get<std::string>();
    check(!f.empty() && f.find('/') == std::string::npos && f != "." && f != "..",
          w.name_ + ": weight_map[\"" + tensor + "\"] = \"" + f + "\" is not a file name in the folder");
    auto it = shard_of_file.find(f);
    if (it == shard_of_file.end()) {
      const fs::path sp = dir / f;
      check(fs::exists(sp), w.name_ + ": weight_map[\"" + tensor + "\"] names shard " + sp.string() +
                                ", which is missing");
      it = shard_of_file.emplace(f, (int)w.shards_.size()).first;
      w.paths_.push_back(sp.string());
      w.shards_.push_back(std::make_shared<SafeTensors>(SafeTensors::load(sp)));
    }
    check(w.shards_[it->second]->find(tensor) != nullptr,
          w.paths_[it->second] + ": has no tensor '" + tensor + "' (listed in " + w.name_ + ")");
    w.where_.emplace(tensor, it->second);
  }
  return w;
}

WeightSource HfWeights::source() const {
  return [this](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
    auto it = where_.find(name);
    if (it == where_.end()) return false;
    try {
      shards_[it->second]->read_f32(name, shape, dst);
    } catch (const Error& e) {
      std::string msg = e.what();
      throw Error(msg.find(paths_[it->second]) == std::string::npos ? paths_[it->second] + ": " + msg : msg);
    }
    return true;
  };
}

Tokenizer hf_tokenizer(const fs::path& dir) {
  Tokenizer tok = Tokenizer::load(dir / "tokenizer.json");
  // End of sequence: generation_config.json's eos_token_id (a number or a list: the
  // first; the rest are stop tokens of the chat template), else tokenizer_config's eos_token.
  const fs::path gen = dir / "generation_config.json", tc = dir / "tokenizer_config.json";
  auto set_eos = [&](int64_t id, const std::string& where) {
    check(id >= 0 && id < tok.vocab_size(), where + " = " + std::to_string(id) + " is not a token id");
    tok.set_eos_id((int32_t)id);
  };
  bool have_eos = false;
  if (fs::exists(gen)) {
    nlohmann::json g = read_json(gen);
    if (g.is_object() && g.contains("eos_token_id")) {
      const auto& e = g["eos_token_id"];
      if (e.is_number_integer()) {
        set_eos(e.get<int64_t>(), gen.string() + ": eos_token_id");
        have_eos = true;
      } else if (e.is_array() && !e.empty() && e[0].is_number_integer()) {
        set_eos(e[0].get<int64_t>(), gen.string() + ": eos_token_id[0]");
        have_eos = true;
      }
    }
  }
  std::string jinja, jinja_where;
  if (fs::exists(tc)) {
    nlohmann::json t = read_json(tc);
    if (t.is_object()) {
      if (!have_eos && t.contains("eos_token")) {
        const auto& e = t["eos_token"];
        std::string s = e.is_string() ? e.get<std::string>()
                        : e.is_object() && e.contains("content") && e["content"].is_string() ? e["content"].get<std::string>()
                                                                                             : "";
        auto id = tok.token_id(s);
        check(id.has_value(), tc.string() + ": eos_token \"" + s + "\" is not a token of tokenizer.json");
        tok.set_eos_id(*id);
      }
      if (t.contains("chat_template")) {
        check(t["chat_template"].is_string(), tc.string() + ": chat_template must be a string (named templates "
                                                            "are not supported)");
        jinja = t["chat_template"].get<std::string>();
        jinja_where = tc.string() + ": chat_template";
      }
    }
  }
  const fs::path jf = dir / "chat_template.jinja";
  if (jinja.empty() && fs::exists(jf)) {
    jinja = read_file(jf);
    jinja_where = jf.string();
  }
  if (!jinja.empty()) {
    recognize_chat_template(jinja, jinja_where);  // an unknown template fails here, at load
    tok.set_chat_template(jinja);
  }
  return tok;
}

}  // namespace veritas::infer
