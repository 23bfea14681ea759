// veritas chat: multi-turn chat with a checkpoint in the terminal (or through a pipe).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "veritas/cli/commands.hpp"
#include "veritas/infer/chat.hpp"
#include "veritas/infer/engine.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

namespace {

struct ChatArgs {
  std::string model, system, tokenizer, precision = "fp32";
  int max_tokens = 512, top_k = 40, context = 0;
  float temperature = 0.7f, top_p = 0.95f;
  uint64_t seed = 0;
  bool stats = false;
};

void run_chat(const ChatArgs& a) {
  infer::EngineOptions eo;
  eo.precision = infer::parse_precision(a.precision);
  eo.context = a.context;
  infer::Engine eng = infer::Engine::load(a.model, eo);
  if (!a.tokenizer.empty()) eng.set_tokenizer(std::make_shared<const Tokenizer>(Tokenizer::load(a.tokenizer)));
  check(eng.tokenizer() != nullptr, a.model + " has no tokenizer.json (give one with --tokenizer)");
  infer::ChatSession chat(eng, a.system, a.context);
  infer::SamplingOptions so;
  so.temperature = a.temperature;
  so.top_k = a.top_k;
  so.top_p = a.top_p;
  so.max_tokens = a.max_tokens;

  const bool tty = isatty(STDIN_FILENO);
  if (tty) std::fprintf(stderr, "chatting with %s (%s). /reset starts over, /exit or Ctrl-D quits.\n", a.model.c_str(),
                        infer::precision_name(eng.precision()));
  std::string line;
  uint64_t turn = 0;
  for (;;) {
    if (tty) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      chat.reset();
      if (tty) std::fprintf(stderr, "(conversation cleared)\n");
      continue;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    so.seed = a.seed + turn++;  // reproducible, yet not the same draw every turn
    infer::Generation g = chat.reply(line, so, [](int32_t, std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (a.stats)
      std::fprintf(stderr, "[%zu tokens at %.1f tok/s, finish: %s, %d tokens in context]\n", g.tokens.size(),
                   g.decode_seconds > 0 ? g.tokens.size() / g.decode_seconds : 0.0, infer::finish_reason_name(g.finish),
                   chat.cached_tokens());
  }
}

}  // namespace

void register_chat(CLI::App& app) {
  auto a = std::make_shared<ChatArgs>();
  auto* cmd = app.add_subcommand("chat", "chat with a checkpoint in the terminal, replies streamed");
  cmd->footer(
      "Reads one message per line from stdin (a terminal or a pipe) and streams each reply to\n"
      "stdout. /reset clears the conversation; /exit, /quit or end of input quits. The chat\n"
      "template is described in docs/inference.md.\n"
      "Example: printf 'What is 2+2?\\n' | veritas chat --model out/ckpt --temperature 0");
  cmd->add_option("--model", a->model, "checkpoint folder (config.json, model.safetensors, tokenizer.json)")->required();
  cmd->add_option("--system", a->system, "system message that starts the conversation");
  cmd->add_option("--max-tokens", a->max_tokens, "most tokens per reply")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", a->temperature, "sampling temperature; 0 = greedy")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", a->top_k, "sample from the k most likely tokens; 0 = all")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", a->top_p, "nucleus: smallest set of tokens with this much probability")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", a->seed, "random seed (turn i uses seed + i)")->capture_default_str();
  cmd->add_option("--precision", a->precision, "weights: fp32, bf16 (2x fewer bytes) or int8 (4x fewer)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
  cmd->add_option("--context", a->context, "KV-cache length; 0 = the model's max_position_embeddings")->capture_default_str();
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json to use instead of the checkpoint's");
  cmd->add_flag("--stats", a->stats, "print tokens/s after each reply (stderr)");
  cmd->callback([a] { run_chat(*a); });
}

}  // namespace veritas::cli
