// veritas tokenizer: import-gpt2 | train | encode | decode | info
#include <cctype>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "veritas/cli/commands.hpp"
#include "veritas/tokenizer/corpus.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/tokenizer/train.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/text.hpp"
#include "veritas/util/timer.hpp"

namespace veritas::cli {

namespace {

std::string read_input(const std::string& path) {
  if (!path.empty() && path != "-") return read_file(path);
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) text.append(buf, n);
  check(!std::ferror(stdin), "read error on stdin");
  return text;
}

void write_output(const std::string& path, const std::string& bytes) {
  if (!path.empty() && path != "-") {
    atomic_write_file(path, bytes);
    return;
  }
  check(std::fwrite(bytes.data(), 1, bytes.size(), stdout) == bytes.size() && std::fflush(stdout) == 0,
        "write error on stdout");
}

// Whitespace-separated decimal ids; anything else is an error naming its byte offset.
std::vector<int32_t> parse_ids(const std::string& text, const std::string& name) {
  std::vector<int32_t> ids;
  size_t i = 0, n = text.size();
  while (true) {
    while (i < n && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r')) ++i;
    if (i >= n) break;
    size_t start = i;
    int64_t v = 0;
    while (i < n && text[i] >= '0' && text[i] <= '9' && v <= (1ll << 31)) v = v * 10 + (text[i++] - '0');
    bool sep = i >= n || text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r';
    if (i == start || !sep || v >= (1ll << 31)) {
      size_t end = start;
      while (end < n && end < start + 20 && !std::isspace((unsigned char)text[end])) ++end;
      throw Error(name + ": byte offset " + std::to_string(start) + ": \"" + utf8_sanitize(text.substr(start, end - start)) +
                  "\" is not a token id (expected non-negative integers separated by whitespace)");
    }
    ids.push_back((int32_t)v);
  }
  return ids;
}

}  // namespace

void register_tokenizer(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenizer", "train, encode, decode and import byte-level BPE tokenizers (tokenizer.json)");
  cmd->require_subcommand(1);

  {
    auto* sub = cmd->add_subcommand("import-gpt2", "convert GPT-2's encoder.json + vocab.bpe into a tokenizer.json");
    auto encoder = std::make_shared<std::string>();
    auto merges = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    sub->add_option("--encoder", *encoder, "encoder.json (token -> id)")->required();
    sub->add_option("--merges", *merges, "vocab.bpe (one merge per line)")->required();
    sub->add_option("-o,--output", *out, "tokenizer.json to write")->required();
    sub->callback([=] {
      Tokenizer t = import_gpt2(*encoder, *merges);
      t.save(*out);
      std::fprintf(stderr, "wrote %s: %d tokens, %zu merges\n", out->c_str(), t.vocab_size(), t.merges().size());
    });
  }
  {
    auto* sub = cmd->add_subcommand(
        "train",
        "train a byte-level BPE tokenizer on text files or JSONL files (.jsonl: the \"text\" field of each line, or an SFT line's messages); "
        "adds the special tokens <|endoftext|> <|system|> <|user|> <|assistant|> <|end|>");
    auto inputs = std::make_shared<std::vector<std::string>>();
    auto vocab = std::make_shared<int>(8192);
    auto min_freq = std::make_shared<int64_t>(2);
    auto out = std::make_shared<std::string>();
    auto split_digits = std::make_shared<bool>(false);
    sub->add_option("--input", *inputs, "input files (.jsonl or plain text)")->required()->check(CLI::ExistingFile);
    sub->add_option("--vocab-size", *vocab, "total tokens: 256 bytes + merges + 5 special tokens")->required();
    sub->add_option("--min-frequency", *min_freq, "stop when the best pair occurs fewer times")->capture_default_str();
    sub->add_option("-o,--output", *out, "tokenizer.json to write")->required();
    sub->add_flag("--split-digits", *split_digits,
                  "never merge digits: words containing 0-9 are left out of the pair counts, so every number "
                  "encodes as one token per digit (for arithmetic)");
    sub->callback([=] {
      Timer timer;
      int64_t total_bytes = 0;
      for (const auto& p : *inputs) total_bytes += (int64_t)fs::file_size(p);
      BpeTrainer trainer;
      trainer.set_split_digits(*split_digits);
      {
        Progress bar("counting words", total_bytes, "B");
        std::vector<std::string> batch;
        size_t batch_bytes = 0;
        int64_t done = 0;
        auto flush = [&] {
          trainer.add_texts(batch);
          batch.clear();
          batch_bytes = 0;
        };
        for (const auto& p : *inputs) {
          for_each_document(p, [&](std::string_view text) {
            batch.emplace_back(text);
            batch_bytes += text.size();
            if (batch_bytes >= (16u << 20)) flush();
          });
          flush();
          done += (int64_t)fs::file_size(p);
          bar.update(done);
        }
        bar.finish(std::to_string(trainer.unique_words()) + " distinct words");
      }
      Tokenizer t = trainer.train(*vocab, default_special_tokens(), *min_freq, true);
      t.save(*out);
      std::fprintf(stderr, "wrote %s: %d tokens (%zu merges) in %.1fs\n", out->c_str(), t.vocab_size(),
                   t.merges().size(), timer.seconds());
      if (t.vocab_size() < *vocab)
        std::fprintf(stderr, "note: the data ran out of pairs occurring >= %lld times before %d tokens\n",
                     (long long)*min_freq, *vocab);
    });
  }
  {
    auto* sub = cmd->add_subcommand("encode", "encode a file (or stdin) as one text; prints token ids separated by spaces");
    auto tok = std::make_shared<std::string>();
    auto input = std::make_shared<std::string>();
    auto specials = std::make_shared<bool>(false);
    sub->add_option("--tokenizer", *tok, "tokenizer.json")->required();
    sub->add_option("input", *input, "input file (default: stdin)");
    sub->add_flag("--specials", *specials, "recognize special-token strings such as <|endoftext|> in the text");
    sub->callback([=] {
      Tokenizer t = Tokenizer::load(*tok);
      std::string text = read_input(*input);
      std::vector<int32_t> ids = *specials ? t.encode_with_specials(text) : t.encode(text);
      std::string out;
      out.reserve(ids.size() * 6);
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out.push_back(' ');
        out += std::to_string(ids[i]);
      }
      out.push_back('\n');
      write_output("", out);
    });
  }
  {
    auto* sub = cmd->add_subcommand("decode", "read token ids (whitespace-separated) and write the exact bytes they stand for");
    auto tok = std::make_shared<std::string>();
    auto input = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    sub->add_option("--tokenizer", *tok, "tokenizer.json")->required();
    sub->add_option("input", *input, "file of ids (default: stdin)");
    sub->add_option("-o,--output", *out, "write the bytes here (default: stdout)");
    sub->callback([=] {
      Tokenizer t = Tokenizer::load(*tok);
      std::string name = input->empty() || *input == "-" ? std::string("stdin") : *input;
      std::vector<int32_t> ids = parse_ids(read_input(*input), name);
      std::string bytes;
      try {
        bytes = t.decode(ids);
      } catch (const Error& e) {
        throw Error(name + ": " + e.what());
      }
      write_output(*out, bytes);
    });
  }
  {
    auto* sub = cmd->add_subcommand("info", "print a summary of a tokenizer.json");
    auto tok = std::make_shared<std::string>();
    sub->add_option("tokenizer", *tok, "tokenizer.json")->required();
    sub->callback([=] {
      Tokenizer t = Tokenizer::load(*tok);
      std::printf("vocab size: %d\nmerges: %zu\n", t.vocab_size(), t.merges().size());
      for (const auto& a : t.added_tokens())
        std::printf("added token %d: %s%s\n", a.id, a.content.c_str(), a.special ? " (special)" : "");
    });
  }
}

}  // namespace veritas::cli
