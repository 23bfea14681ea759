// veritas sample: generate text from a checkpoint, streaming tokens as they are produced.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "veritas/cli/commands.hpp"
#include "veritas/infer/chat.hpp"
#include "veritas/infer/engine.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

namespace {

struct SampleArgs {
  std::string model, prompt, tokenizer, precision = "fp32";
  int max_tokens = 200, top_k = 0, context = 0;
  float temperature = 0.8f, top_p = 1.0f;
  uint64_t seed = 0;
  std::vector<std::string> stops;
  bool chat = false, quiet = false;
};

void run_sample(const SampleArgs& a) {
  infer::EngineOptions eo;
  eo.precision = infer::parse_precision(a.precision);
  eo.context = a.context;
  infer::Engine eng = infer::Engine::load(a.model, eo);
  if (!a.tokenizer.empty()) eng.set_tokenizer(std::make_shared<const Tokenizer>(Tokenizer::load(a.tokenizer)));
  check(eng.tokenizer() != nullptr, a.model + " has no tokenizer.json (give one with --tokenizer)");
  const Tokenizer& tok = *eng.tokenizer();

  std::vector<int32_t> prompt;
  if (a.chat) {
    prompt = infer::chat_tokens(tok, {{"user", a.prompt}}, true);
  } else {
    prompt = tok.encode(a.prompt);
    if (prompt.empty()) prompt.push_back(tok.eot_id());  // start of a new document
  }
  infer::SamplingOptions so;
  so.temperature = a.temperature;
  so.top_k = a.top_k;
  so.top_p = a.top_p;
  so.seed = a.seed;
  so.max_tokens = a.max_tokens;
  so.stop_strings = a.stops;

  if (!a.chat) std::fwrite(a.prompt.data(), 1, a.prompt.size(), stdout);
  std::fflush(stdout);
  infer::Generation g = eng.generate(prompt, so, [](int32_t, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!a.quiet) {
    double pre = g.prefill_seconds > 0 ? g.prompt_tokens / g.prefill_seconds : 0;
    double dec = g.decode_seconds > 0 ? g.tokens.size() / g.decode_seconds : 0;
    std::fprintf(stderr, "[%d prompt tokens at %.0f tok/s, %zu generated at %.1f tok/s (%s), finish: %s]\n",
                 g.prompt_tokens, pre, g.tokens.size(), dec, infer::precision_name(eng.precision()),
                 infer::finish_reason_name(g.finish));
  }
}

}  // namespace

void register_sample(CLI::App& app) {
  auto a = std::make_shared<SampleArgs>();
  auto* cmd = app.add_subcommand("sample", "generate text from a checkpoint, streamed as it is produced");
  cmd->footer(
      "Prints the prompt, then the continuation token by token; a summary (tokens/s, finish\n"
      "reason) goes to stderr. Sampling is deterministic for a given --seed.\n"
      "Example: veritas sample --model out/ckpt --prompt \"The sun\" --temperature 0.7 --top-p 0.9");
  cmd->add_option("--model", a->model, "checkpoint folder (config.json, model.safetensors, tokenizer.json)")->required();
  cmd->add_option("--prompt", a->prompt, "text to continue (empty: start a new document)");
  cmd->add_option("--max-tokens", a->max_tokens, "most tokens to generate")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature", a->temperature, "sampling temperature; 0 = greedy")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", a->top_k, "sample from the k most likely tokens; 0 = all")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", a->top_p, "nucleus: smallest set of tokens with this much probability")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", a->seed, "random seed")->capture_default_str();
  cmd->add_option("--stop", a->stops, "stop when the text contains this string (repeatable)");
  cmd->add_option("--precision", a->precision, "weights: fp32, bf16 (2x fewer bytes) or int8 (4x fewer)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
  cmd->add_option("--context", a->context, "KV-cache length; 0 = the model's max_position_embeddings")->capture_default_str();
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json to use instead of the checkpoint's");
  cmd->add_flag("--chat", a->chat, "wrap the prompt in the chat template as a user message");
  cmd->add_flag("--quiet,-q", a->quiet, "no summary on stderr");
  cmd->callback([a] { run_sample(*a); });
}

}  // namespace veritas::cli
