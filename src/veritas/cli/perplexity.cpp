// veritas perplexity: a model's perplexity on a held-out text (infer/perplexity.hpp), the
// general-ability figure reported beside the truth evaluation.
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "veritas/cli/commands.hpp"
#include "veritas/cli/generation_options.hpp"
#include "veritas/infer/perplexity.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/text.hpp"

namespace veritas::cli {

void register_perplexity(CLI::App& app) {
  auto a = std::make_shared<GenerationArgs>();
  auto text = std::make_shared<std::string>();
  auto window = std::make_shared<int>(512);
  auto max_bytes = std::make_shared<int64_t>(0);
  auto* cmd = app.add_subcommand("perplexity", "a model's perplexity on a text file (held-out text: general ability)");
  cmd->footer(
      "The text is encoded with the model's tokenizer as plain text (special-token strings are not markers), cut into\n"
      "consecutive windows of --window positions, each run from an empty cache and led by the model's BOS token\n"
      "where its tokenizer adds one (Gemma); every token after a window's first position is scored. Prints one JSON line: tokens scored, windows, mean negative log-likelihood (nats) and perplexity.\n"
      "Example: veritas perplexity --model SmolLM2-135M-Instruct.Q4_1.gguf --precision gguf --text held-out.txt");
  cmd->add_option("--model", a->model, "checkpoint or Hugging Face folder, or a GGUF file")->required();
  cmd->add_option("--text", *text, "UTF-8 text file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--window", *window, "tokens per window")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--max-bytes", *max_bytes, "read at most this many bytes of the text (cut at a character); 0 = all")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--precision", a->precision, "weights: fp32, bf16, int8 or gguf (a .gguf model's own blocks)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16", "int8", "gguf"}));
  add_kv_cache_option(cmd, *a);
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json to use instead of the checkpoint's");
  cmd->callback([a, text, window, max_bytes] {
    std::string s = read_file(*text);
    if (*max_bytes > 0 && (int64_t)s.size() > *max_bytes) {
      size_t cut = (size_t)*max_bytes;
      while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) --cut;  // not inside a character
      s.resize(cut);
    }
    const size_t bad = utf8_invalid_offset(s);
    check(bad == std::string::npos, *text + ": invalid UTF-8 at byte " + std::to_string(bad));
    infer::Engine eng = load_engine(*a);
    const std::vector<int32_t> ids = eng.tokenizer()->encode(s);
    check(ids.size() >= 2, *text + ": fewer than 2 tokens of text");
    Progress bar("perplexity", (int64_t)((ids.size() + *window - 1) / *window), "window");
    infer::PerplexityResult r = infer::perplexity(eng, ids, *window, [&](int done, int) { bar.update(done); });
    bar.finish();
    nlohmann::json j = {{"model", a->model},          {"text", *text},
                        {"bytes", s.size()},           {"tokens", ids.size()},
                        {"tokens_scored", r.tokens_scored}, {"windows", r.windows},
                        {"window", *window},           {"precision", a->precision},
                        {"mean_nll", r.mean_nll()},    {"perplexity", r.perplexity()}};
    std::printf("%s\n", j.dump().c_str());
  });
}

}  // namespace veritas::cli
