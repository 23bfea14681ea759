#include "veritas/infer/hf_model.hpp"

#include <nlohmann/json.hpp>

#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/tokenizer_files.hpp"
#include "veritas/util/config.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace fs = std::filesystem;

namespace veritas::infer {


ModelConfig hf_config(const fs::path& dir) {
  const fs::path p = dir / "config.json";
  check(fs::exists(p), p.string() + ": missing (a checkpoint needs config.json)");
  nlohmann::json j = read_json_file(p);
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

HfWeights HfWeights::open(const fs::path& dir, const ModelConfig& cfg) {
  HfWeights w = open_files(dir);
  cfg.check_stored_shapes(
      [&w](const std::string& name) -> std::optional<StoredTensor> {
        auto it = w.where_.find(name);
        if (it == w.where_.end()) return std::nullopt;
        return StoredTensor{name, w.shards_[it->second]->find(name)->shape};
      },
      w.name_);
  return w;
}

HfWeights HfWeights::open_files(const fs::path& dir) {
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
  nlohmann::json j = read_json_file(index);
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

Tokenizer hf_tokenizer(const fs::path& dir) { return load_tokenizer_files(dir / "tokenizer.json"); }

}  // namespace veritas::infer
