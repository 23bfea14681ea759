#pragma once
// An inference engine holding a copy of a training model's current weights: self-play
// and self-improvement sample from the model they are training, one copy per round.
#include <memory>
#include <string>

#include "veritas/infer/engine.hpp"
#include "veritas/model/model.hpp"
#include "veritas/tokenizer/tokenizer.hpp"

namespace veritas::selfplay {

// precision: fp32 | bf16 | int8 (generation weights); context: the KV cache's length;
// device: where the engine runs (EngineOptions::device).
infer::Engine engine_from_model(Model& model, const ModelConfig& cfg, std::shared_ptr<const Tokenizer> tok,
                                const std::string& precision, int context, const std::string& device = "cpu");

}  // namespace veritas::selfplay
