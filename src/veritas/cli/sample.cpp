// veritas sample: generate text from a checkpoint, streaming tokens as they are produced.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "veritas/cli/commands.hpp"
#include "veritas/cli/generation_options.hpp"
#include "veritas/infer/chat.hpp"
#include "veritas/infer/engine.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

namespace {

struct SampleArgs {
  GenerationArgs gen;  // defaults: 200 tokens, temperature 0.8, no top-k/top-p cut
  std::string prompt;
  std::vector<std::string> stops;
  bool chat = false, quiet = false;
};

void run_sample(const SampleArgs& a) {
  infer::Engine eng = load_engine(a.gen);
  const Tokenizer& tok = *eng.tokenizer();

  std::vector<int32_t> prompt;
  if (a.chat) {
    prompt = infer::chat_tokens(tok, {{"user", a.prompt}}, true);
  } else {
    prompt = tok.encode(a.prompt);
    // A GGUF whose tokenizer says add_bos_token (Gemma: <bos>) starts every prompt with it.
    if (auto bos = tok.bos_id()) prompt.insert(prompt.begin(), *bos);
    if (prompt.empty()) prompt.push_back(tok.eot_id());  // start of a new document
  }
  infer::SamplingOptions so = sampling_options(a.gen);
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
  add_generation_options(cmd, a->gen, "most tokens to generate");
  cmd->add_option("--prompt", a->prompt, "text to continue (empty: start a new document)");
  cmd->add_option("--stop", a->stops, "stop when the text contains this string (repeatable)");
  cmd->add_flag("--chat", a->chat, "wrap the prompt in the chat template as a user message");
  cmd->add_flag("--quiet,-q", a->quiet, "no summary on stderr");
  cmd->callback([a] { run_sample(*a); });
}

}  // namespace veritas::cli
