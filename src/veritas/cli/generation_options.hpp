#pragma once
// What `veritas sample` and `veritas chat` share: the checkpoint, weight precision and
// sampling flags, loading the engine, and turning the flags into SamplingOptions.
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "veritas/infer/engine.hpp"

namespace veritas::cli {

struct GenerationArgs {
  std::string model, tokenizer, precision = "fp32", kv_cache = "f32", device = "cpu";
  int max_tokens = 200, top_k = 0, context = 0;
  float temperature = 0.8f, top_p = 1.0f;
  uint64_t seed = 0;
  std::vector<std::string> logit_bias;  // "TOKEN=BIAS"
};

// Registers --model --tokenizer --precision --kv-cache --device --context --max-tokens --temperature
// --top-k --top-p --seed --logit-bias on cmd; the values in `a` are the command's defaults.
void add_generation_options(CLI::App* cmd, GenerationArgs& a, const std::string& max_tokens_help);
// Registers --kv-cache and --device (for commands that register the rest themselves).
void add_kv_cache_option(CLI::App* cmd, GenerationArgs& a);
// Loads the checkpoint (and --tokenizer if given); throws Error when no tokenizer is found.
infer::Engine load_engine(const GenerationArgs& a);
// The flags as SamplingOptions; --logit-bias tokens are looked up in tok (Error when unknown).
infer::SamplingOptions sampling_options(const GenerationArgs& a, const Tokenizer& tok);
// "bf16", or "bf16 on cuda: ..." when the engine runs on a device: for status lines.
std::string engine_label(const infer::Engine& e);

}  // namespace veritas::cli
