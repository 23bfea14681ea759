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
#include "veritas/util/fs.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/progress.hpp"

namespace veritas::cli {

namespace {

struct SampleArgs {
  GenerationArgs gen;  // defaults: 200 tokens, temperature 0.8, no top-k/top-p cut
  std::string prompt, prompts, out;
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
  infer::SamplingOptions so = sampling_options(a.gen, *eng.tokenizer());
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
                 g.prompt_tokens, pre, g.tokens.size(), dec, engine_label(eng).c_str(),
                 infer::finish_reason_name(g.finish));
  }
}

// --prompts: one chat reply per JSONL row ({"prompt": ..., any other fields}), written
// as the row plus "reply", "finish" and "messages" (user, assistant): the row is the
// input of `veritas train --sft` as it stands, so a model's own replies to general
// prompts can be mixed into fine-tuning data (docs/selfplay.md). One model load for all.
void run_sample_prompts(const SampleArgs& a) {
  check(!a.out.empty(), "sample: --prompts needs -o/--out FILE");
  check(a.prompt.empty(), "sample: give --prompt or --prompts, not both");
  std::vector<nlohmann::json> rows;
  for_each_json_line(a.prompts, [&](const nlohmann::json& j, const std::string& where) {
    check(j.is_object() && j.contains("prompt") && j["prompt"].is_string() && !j["prompt"].get<std::string>().empty(),
          where + ": expected an object with a non-empty string 'prompt'");
    rows.push_back(j);
  });
  check(!rows.empty(), "sample: " + a.prompts + " holds no prompts");
  infer::Engine eng = load_engine(a.gen);
  const Tokenizer& tok = *eng.tokenizer();
  infer::SamplingOptions so = sampling_options(a.gen, *eng.tokenizer());
  so.stop_strings = a.stops;
  Progress bar("sample", (int64_t)rows.size(), "replies");
  std::string text;
  for (auto& row : rows) {
    const std::string p = row["prompt"].get<std::string>();
    infer::Generation g = eng.generate(infer::chat_tokens(tok, {{"user", p}}, true), so);
    // The text is valid UTF-8 (infer/text_stream.hpp); a reply cut by --max-tokens inside
    // a character ends in the U+FFFD that stands for it, which is no text to learn.
    std::string reply = g.text;
    if (g.finish == infer::FinishReason::Length && reply.size() >= 3 && reply.ends_with("\xEF\xBF\xBD"))
      reply.resize(reply.size() - 3);
    row["reply"] = reply;
    row["finish"] = infer::finish_reason_name(g.finish);
    row["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", p}}, {{"role", "assistant"}, {"content", reply}}});
    text += row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    bar.add(1);
  }
  bar.finish();
  atomic_write_file(a.out, text);
  if (!a.quiet) std::fprintf(stderr, "wrote %zu replies to %s\n", rows.size(), a.out.c_str());
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
  cmd->add_option("--prompts", a->prompts,
                  "JSONL of {\"prompt\", ...} rows: reply to each as a chat user message and write the rows with "
                  "\"reply\", \"finish\" and \"messages\" added (an SFT input) to --out");
  cmd->add_option("-o,--out", a->out, "with --prompts: the output JSONL (written atomically)");
  cmd->add_option("--stop", a->stops, "stop when the text contains this string (repeatable)");
  cmd->add_flag("--chat", a->chat, "wrap the prompt in the chat template as a user message");
  cmd->add_flag("--quiet,-q", a->quiet, "no summary on stderr");
  cmd->callback([a] { a->prompts.empty() ? run_sample(*a) : run_sample_prompts(*a); });
}

}  // namespace veritas::cli
