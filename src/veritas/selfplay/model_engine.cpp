#include "veritas/selfplay/model_engine.hpp"

#include <algorithm>
#include <map>

#include "veritas/util/error.hpp"

namespace veritas::selfplay {

infer::Engine engine_from_model(Model& model, const ModelConfig& cfg, std::shared_ptr<const Tokenizer> tok,
                                const std::string& precision, int context, const std::string& device) {
  model.download_weights();  // a model trained on a device: its host copy is stale until now
  std::map<std::string, const Param*> byname;
  for (const auto& p : model.params()) byname[p.name] = &p;
  infer::EngineOptions eo;
  eo.precision = infer::parse_precision(precision);
  eo.context = context;
  eo.load_tokenizer = false;
  eo.device = device;
  infer::Engine e = infer::Engine::from_weights(
      cfg,
      [&](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
        auto it = byname.find(name);
        if (it == byname.end()) return false;
        check(it->second->shape == shape, "self-play: tensor " + name + " has an unexpected shape");
        std::copy(it->second->data, it->second->data + it->second->size, dst);
        return true;
      },
      eo);
  e.set_tokenizer(std::move(tok));
  return e;
}

}  // namespace veritas::selfplay
