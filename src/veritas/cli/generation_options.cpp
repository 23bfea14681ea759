#include "veritas/cli/generation_options.hpp"

#include <cmath>
#include <memory>
#include <optional>
#include <string>

#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void add_generation_options(CLI::App* cmd, GenerationArgs& a, const std::string& max_tokens_help) {
  cmd->add_option("--model", a.model,
                  "checkpoint or Hugging Face folder (config.json, model.safetensors or its index, tokenizer.json) or a GGUF file (llama, qwen2, gemma3)")
      ->required();
  cmd->add_option("--max-tokens", a.max_tokens, max_tokens_help)->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", a.temperature, "sampling temperature; 0 = greedy")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", a.top_k, "sample from the k most likely tokens; 0 = all")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", a.top_p, "nucleus: smallest set of tokens with this much probability")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", a.seed, "random seed")->capture_default_str();
  cmd->add_option("--logit-bias", a.logit_bias,
                  "TOKEN=BIAS: add BIAS to that token's logit before sampling (repeatable); TOKEN is a token's text, "
                  "such as <|end|>, or #ID (e.g. --logit-bias '<|end|>=-3' makes replies run longer)");
  cmd->add_option("--precision", a.precision,
                  "weights: fp32, bf16 (2x fewer bytes), int8 (4x fewer), or gguf (a .gguf model's Q8_0/Q4_0/Q4_1/Q5_0/Q4_K/Q5_K/Q6_K "
                  "blocks and F16 weights used as stored, other types fp32)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16", "int8", "gguf"}));
  add_kv_cache_option(cmd, a);
  cmd->add_option("--context", a.context, "KV-cache length; 0 = the model's max_position_embeddings")->capture_default_str();
  cmd->add_option("--tokenizer", a.tokenizer, "tokenizer.json to use instead of the checkpoint's");
}

void add_kv_cache_option(CLI::App* cmd, GenerationArgs& a) {
  cmd->add_option("--kv-cache", a.kv_cache,
                  "KV-cache values: f32, or f16 (half the memory and attention reads, each value rounded once; "
                  "llama.cpp's default)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "f16"}));
  cmd->add_option("--device", a.device,
                  "where the forward pass runs: cpu, or cuda (an NVIDIA GPU: weights in bf16, fp32 with --precision "
                  "fp32, Q8 blocks with --precision gguf; the KV cache there too; sampling on the CPU)")
      ->capture_default_str();
}

infer::Engine load_engine(const GenerationArgs& a) {
  infer::EngineOptions eo;
  eo.precision = infer::parse_precision(a.precision);
  eo.kv_cache = infer::parse_kv_type(a.kv_cache);
  eo.context = a.context;
  eo.device = a.device;
  infer::Engine eng = infer::Engine::load(a.model, eo);
  if (!a.tokenizer.empty()) eng.set_tokenizer(std::make_shared<const Tokenizer>(Tokenizer::load(a.tokenizer)));
  check(eng.tokenizer() != nullptr, a.model + " has no tokenizer.json (give one with --tokenizer)");
  return eng;
}

std::string engine_label(const infer::Engine& e) {
  std::string s = infer::precision_name(e.precision());
  return e.device() == "cpu" ? s : s + " on " + e.device();
}

infer::SamplingOptions sampling_options(const GenerationArgs& a, const Tokenizer& tok) {
  infer::SamplingOptions so;
  for (const std::string& tb : a.logit_bias) {
    const size_t eq = tb.rfind('=');
    check(eq != std::string::npos && eq > 0, "--logit-bias " + tb + ": expected TOKEN=BIAS");
    const std::string name = tb.substr(0, eq), value = tb.substr(eq + 1);
    float bias = 0;
    try {
      size_t used = 0;
      bias = std::stof(value, &used);
      check(used == value.size(), "");
    } catch (...) {
      throw Error("--logit-bias " + tb + ": BIAS must be a number");
    }
    check(std::isfinite(bias), "--logit-bias " + tb + ": BIAS must be finite");
    std::optional<int32_t> id;
    if (name.size() > 1 && name.size() <= 10 && name[0] == '#' && name.find_first_not_of("0123456789", 1) == std::string::npos) {
      const long v = std::stol(name.substr(1));
      if (v < (long)tok.vocab_size()) id = (int32_t)v;
    } else {
      id = tok.token_id(name);
    }
    check(id.has_value(), "--logit-bias " + tb + ": " + name + " is not a token of this tokenizer");
    so.logit_bias.emplace_back(*id, bias);
  }
  so.temperature = a.temperature;
  so.top_k = a.top_k;
  so.top_p = a.top_p;
  so.seed = a.seed;
  so.max_tokens = a.max_tokens;
  return so;
}

}  // namespace veritas::cli
