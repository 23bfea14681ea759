// veritas tokenize: text / JSONL documents -> token shards (docs/formats.md).
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/cli/commands.hpp"
#include "veritas/data/shards.hpp"
#include "veritas/tokenizer/corpus.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/thread_pool.hpp"
#include "veritas/util/timer.hpp"

namespace veritas::cli {

namespace {

struct Options {
  std::string tokenizer, out;
  std::vector<std::string> inputs;
  double val_fraction = 0.05;
  int64_t shard_tokens = 50'000'000;
  bool specials = false;
};

// Streams tokens of one split into <split>_NNNNNN.bin files. A shard is closed at the
// first document boundary at or after shard_tokens tokens, so no document is split.
class ShardSink {
 public:
  ShardSink(fs::path dir, std::string split, int64_t shard_tokens, int width)
      : dir_(std::move(dir)), split_(std::move(split)), shard_tokens_(shard_tokens), width_(width) {}
  void add_document(const std::vector<int32_t>& ids) {
    buf_.insert(buf_.end(), ids.begin(), ids.end());
    ++docs_;
    if ((int64_t)buf_.size() >= shard_tokens_) flush();
  }
  void finish() {
    if (!buf_.empty()) flush();
  }
  int64_t tokens() const { return tokens_; }
  int64_t docs() const { return docs_; }
  const std::vector<std::string>& files() const { return files_; }

 private:
  void flush() {
    char name[64];
    std::snprintf(name, sizeof name, "%s_%06zu.bin", split_.c_str(), files_.size());
    write_shard(dir_ / name, buf_, width_);
    files_.push_back(name);
    tokens_ += (int64_t)buf_.size();
    buf_.clear();
  }
  fs::path dir_;
  std::string split_;
  int64_t shard_tokens_;
  int width_;
  std::vector<int32_t> buf_;
  std::vector<std::string> files_;
  int64_t tokens_ = 0, docs_ = 0;
};

void run_tokenize(const Options& o) {
  check(o.val_fraction >= 0 && o.val_fraction < 1, "--val-fraction must be in [0, 1)");
  check(o.shard_tokens > 0, "--shard-tokens must be positive");
  Timer timer;
  Tokenizer tok = Tokenizer::load(o.tokenizer);
  const int32_t eot = tok.eot_id();
  const int width = tok.vocab_size() <= 65536 ? 2 : 4;
  fs::path dir(o.out);
  fs::create_directories(dir);
  // Stale shards of an earlier run would be read as part of this data set.
  for (const char* split : {"train", "val"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      std::string name = e.path().filename().string();
      if (name.rfind(std::string(split) + "_", 0) == 0 && e.path().extension() == ".bin") fs::remove(e.path());
    }
  }
  ShardSink train(dir, "train", o.shard_tokens, width), val(dir, "val", o.shard_tokens, width);

  int64_t total_bytes = 0;
  for (const auto& p : o.inputs) total_bytes += (int64_t)fs::file_size(p);
  Progress bar("tokenize", total_bytes, "B");
  int64_t doc_index = 0, bytes_done = 0;
  bool any_val = false;
  // The last document is held back: when the fraction selected no validation document
  // at all (a small input), it goes to validation so the split is never empty.
  std::vector<int32_t> held;
  bool have_held = false;

  // Documents are encoded in parallel in batches, then written in input order.
  std::vector<std::string> batch;
  size_t batch_bytes = 0;
  auto flush = [&] {
    std::vector<std::vector<int32_t>> ids(batch.size());
    ThreadPool::global().parallel_for((int64_t)batch.size(), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        ids[i] = o.specials ? tok.encode_with_specials(batch[i]) : tok.encode(batch[i]);
        ids[i].push_back(eot);  // every document ends with <|endoftext|>
      }
    });
    for (auto& d : ids) {
      if (have_held) {
        // Document i goes to validation when floor((i+1)*f) > floor(i*f): an even spread.
        int64_t i = doc_index++;
        bool is_val = std::floor((double)(i + 1) * o.val_fraction) > std::floor((double)i * o.val_fraction);
        if (is_val) {
          val.add_document(held);
          any_val = true;
        } else {
          train.add_document(held);
        }
      }
      held.swap(d);
      have_held = true;
    }
    batch.clear();
    batch_bytes = 0;
  };
  for (const auto& p : o.inputs) {
    for_each_document(p, [&](std::string_view text) {
      batch.emplace_back(text);
      batch_bytes += text.size();
      if (batch_bytes >= (8u << 20) || batch.size() >= 4096) flush();
    });
    flush();
    bytes_done += (int64_t)fs::file_size(p);
    bar.update(bytes_done, std::to_string(train.tokens() + val.tokens()) + " tokens");
  }
  check(have_held, "the inputs hold no documents");
  if (o.val_fraction > 0 && !any_val) {
    check(doc_index > 0, "--val-fraction " + std::to_string(o.val_fraction) +
                             " needs at least 2 documents, the inputs hold 1 (use JSONL, several files, or "
                             "--val-fraction 0)");
    val.add_document(held);
  } else {
    bool is_val = std::floor((double)(doc_index + 1) * o.val_fraction) > std::floor((double)doc_index * o.val_fraction);
    (is_val ? val : train).add_document(held);
  }
  ++doc_index;
  train.finish();
  val.finish();
  bar.finish(std::to_string(train.tokens() + val.tokens()) + " tokens");
  check(train.tokens() > 0, "no training documents (all went to validation)");

  nlohmann::ordered_json meta = {
      {"format", "VRTSHRD1"},
      {"tokenizer", fs::absolute(o.tokenizer).string()},
      {"vocab_size", tok.vocab_size()},
      {"eot_id", eot},
      {"token_bytes", width},
      {"val_fraction", o.val_fraction},
      {"inputs", o.inputs},
      {"train", {{"documents", train.docs()}, {"tokens", train.tokens()}, {"files", train.files()}}},
      {"val", {{"documents", val.docs()}, {"tokens", val.tokens()}, {"files", val.files()}}}};
  atomic_write_file(dir / "shards.json", meta.dump(2) + "\n");
  std::fprintf(stderr, "wrote %s: train %lld tokens in %zu shard(s) (%lld docs), val %lld tokens (%lld docs), %.1fs\n",
               o.out.c_str(), (long long)train.tokens(), train.files().size(), (long long)train.docs(),
               (long long)val.tokens(), (long long)val.docs(), timer.seconds());
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "tokenize",
      "turn text or JSONL documents into token shards: DIR/train_000000.bin ..., DIR/val_000000.bin, DIR/shards.json "
      "(each document ends with <|endoftext|>; validation takes whole documents)");
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json")->required()->check(CLI::ExistingFile);
  cmd->add_option("--input", o->inputs, "input files: .jsonl (one document per line: the \"text\" field, or an SFT line's messages) or plain text "
                                        "(one document per file)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", o->out, "output folder")->required();
  cmd->add_option("--val-fraction", o->val_fraction, "share of documents held out for validation")->capture_default_str();
  cmd->add_option("--shard-tokens", o->shard_tokens, "close a shard at the first document end after this many tokens")
      ->capture_default_str();
  cmd->add_flag("--specials", o->specials, "recognize special-token strings in the text (default: plain text)");
  cmd->callback([o] { run_tokenize(*o); });
}

}  // namespace veritas::cli
