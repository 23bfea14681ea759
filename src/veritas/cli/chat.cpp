// veritas chat: multi-turn chat with a checkpoint in the terminal (or through a pipe).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "veritas/cli/commands.hpp"
#include "veritas/cli/generation_options.hpp"
#include "veritas/infer/chat.hpp"
#include "veritas/infer/engine.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

namespace {

GenerationArgs chat_defaults() {
  GenerationArgs g;
  g.max_tokens = 512;
  g.top_k = 40;
  g.temperature = 0.7f;
  g.top_p = 0.95f;
  return g;
}

struct ChatArgs {
  GenerationArgs gen = chat_defaults();
  std::string system;
  bool stats = false;
};

void run_chat(const ChatArgs& a) {
  infer::Engine eng = load_engine(a.gen);
  infer::ChatSession chat(eng, a.system, a.gen.context);
  infer::SamplingOptions so = sampling_options(a.gen, *eng.tokenizer());

  const bool tty = isatty(STDIN_FILENO);
  if (tty) std::fprintf(stderr, "chatting with %s (%s). /reset starts over, /exit or Ctrl-D quits.\n", a.gen.model.c_str(),
                        engine_label(eng).c_str());
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
    so.seed = a.gen.seed + turn++;  // reproducible, yet not the same draw every turn
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
  add_generation_options(cmd, a->gen, "most tokens per reply (turn i samples with seed + i)");
  cmd->add_option("--system", a->system, "system message that starts the conversation");
  cmd->add_flag("--stats", a->stats, "print tokens/s after each reply (stderr)");
  cmd->callback([a] { run_chat(*a); });
}

}  // namespace veritas::cli
