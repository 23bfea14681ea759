// veritas train: pretraining on token shards or SFT on JSONL, with AdamW, a warmup +
// cosine schedule, validation, metrics, crash-safe checkpoints and exact resume.
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <string>

#include "veritas/cli/commands.hpp"
#include "veritas/cli/stop_signal.hpp"
#include "veritas/kernels/kernels.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/train/dist.hpp"
#include "veritas/train/trainer.hpp"
#include "veritas/util/config.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

namespace {

struct TrainArgs {
  std::string config, data, out, init_from, sft, sft_val, tokenizer, matmul, device;
  int64_t steps = 0, warmup = 0, eval_every = 0, eval_batches = 0, save_every = 0;
  int batch = 0, seq = 0, accum = 0, threads = 0, zero = 0, train_layers = 0;
  double lr = 0, min_lr = 0, weight_decay = 0, beta1 = 0, beta2 = 0, eps = 0, clip = 0, time_limit = 0, delay = 0;
  uint64_t seed = 0;
  int vocab = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, max_pos = 0;
  bool untied = false, resume = false;
  std::string position_encoding;
};

}  // namespace

void register_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train",
                                 "train a model on token shards (pretraining) or on JSONL answers (SFT), with "
                                 "checkpoints and exact resume");
  cmd->footer(
      "Settings come from the defaults, then --config (JSON or TOML, keys as the flag names with '_', model\n"
      "shape under \"model\" with config.json field names), then flags. --resume starts from the settings saved in\n"
      "OUT's checkpoint instead of the defaults; flags still override (e.g. --steps to train longer).\n"
      "OUT gets checkpoint/ (config.json, model.safetensors, optimizer.safetensors, train_state.json),\n"
      "metrics.jsonl and loss.svg. See docs/training.md.\n"
      "Data-parallel: mpirun -np N veritas train ... (or srun) runs N ranks, each with --batch sequences per\n"
      "micro-batch (global batch N x batch); rank 0 logs and checkpoints. See docs/scale.md.");
  auto a = std::make_shared<TrainArgs>();
  std::vector<std::pair<CLI::Option*, std::string>> opts;  // option -> config key
  auto add = [&](const char* flag, auto& var, const char* key, const char* help) {
    opts.emplace_back(cmd->add_option(flag, var, help), key);
  };
  cmd->add_option("--config", a->config, "settings file (.json or .toml)");
  add("--data", a->data, "data", "folder with token shards train_*.bin (and val_*.bin for validation)");
  add("--out", a->out, "out", "run folder for checkpoint/, metrics.jsonl, loss.svg");
  add("--init-from", a->init_from, "init_from", "start from this checkpoint's weights (fine-tuning; fresh optimizer)");
  add("--sft", a->sft, "sft", "SFT data: JSONL of {prompt, answer} or {messages}; only answer tokens count");
  add("--sft-val", a->sft_val, "sft_val", "held-out SFT JSONL for validation loss");
  add("--tokenizer", a->tokenizer, "tokenizer",
      "tokenizer.json (needed by --sft; copied into checkpoints; default DATA/tokenizer.json if present)");
  add("--steps", a->steps, "steps", "optimizer steps in total (default 1000)");
  add("--batch", a->batch, "batch", "sequences per micro-batch (default 8)");
  add("--seq", a->seq, "seq", "tokens per sequence (default 128)");
  add("--accum", a->accum, "accum", "micro-batches accumulated per optimizer step (default 1)");
  add("--lr", a->lr, "lr", "peak learning rate (default 3e-4)");
  add("--min-lr", a->min_lr, "min_lr", "learning rate at the end of the cosine decay (default lr / 10)");
  add("--warmup", a->warmup, "warmup", "linear warmup steps (default 100)");
  add("--weight-decay", a->weight_decay, "weight_decay", "AdamW decoupled weight decay on matrices (default 0.1)");
  add("--beta1", a->beta1, "beta1", "AdamW beta1 (default 0.9)");
  add("--beta2", a->beta2, "beta2", "AdamW beta2 (default 0.95)");
  add("--eps", a->eps, "eps", "AdamW epsilon (default 1e-8)");
  add("--clip", a->clip, "clip", "global gradient-norm clipping, 0 = off (default 1.0)");
  add("--eval-every", a->eval_every, "eval_every", "validation every N steps, 0 = only at the end (default 100)");
  add("--eval-batches", a->eval_batches, "eval_batches", "validation batches per evaluation (default 8)");
  add("--save-every", a->save_every, "save_every", "checkpoint every N steps, 0 = only at the end (default 500)");
  add("--seed", a->seed, "seed", "seed for initialization and data order (default 1337)");
  add("--threads", a->threads, "threads", "CPU threads, 0 = all (default 0)");
  add("--time-limit", a->time_limit, "time_limit", "seconds: stop cleanly with a checkpoint when reached (0 = none)");
  add("--zero", a->zero, "zero",
      "under mpirun/srun: 1 = ZeRO-1, AdamW's moments sharded across the ranks (less memory per rank); "
      "0 = off (default)");
  add("--train-layers", a->train_layers, "train_layers",
      "train only the last K blocks and the final norm; embeddings (and a tied head) frozen, the backward pass "
      "stops at block L-K (fine-tuning large models on few cores; 0 = all, default)");
  add("--matmul", a->matmul, "matmul",
      "matrix products: fp32 (default) or bf16 (inputs rounded to bf16, fp32 sums; AMX tiles where the CPU has "
      "them, else the same arithmetic through sgemm; weights, gradients and optimizer stay fp32)");
  add("--device", a->device, "device",
      "where to train: cpu (default) or cuda (an NVIDIA GPU; fp32 products through cuBLASLt). Checkpoints are the "
      "same files either way, so a run may resume on the other device");
  auto* delay = cmd->add_option("--step-delay-ms", a->delay, "testing: sleep after every step");
  delay->group("");  // hidden: exists so tests can kill a run mid-way
  opts.emplace_back(delay, "step_delay_ms");
  std::vector<std::pair<CLI::Option*, std::string>> model_opts;
  auto addm = [&](const char* flag, auto& var, const char* key, const char* help) {
    auto* o = cmd->add_option(flag, var, help);
    o->group("Model shape (new models)");
    model_opts.emplace_back(o, key);
  };
  addm("--vocab-size", a->vocab, "vocab_size", "vocabulary size (default: the tokenizer's, else 8192)");
  addm("--hidden-size", a->hidden, "hidden_size", "model width (default 384)");
  addm("--layers", a->layers, "num_hidden_layers", "transformer blocks (default 6)");
  addm("--heads", a->heads, "num_attention_heads", "attention heads (default 6)");
  addm("--kv-heads", a->kv_heads, "num_key_value_heads", "key/value heads (grouped-query attention; default = heads)");
  addm("--intermediate-size", a->ffn, "intermediate_size", "SwiGLU hidden width (default 1024)");
  addm("--max-seq-len", a->max_pos, "max_position_embeddings", "longest sequence the model supports (default max(256, seq))");
  cmd->add_flag("--untied", a->untied, "separate output head instead of tying it to the embedding")
      ->group("Model shape (new models)");
  cmd->add_option("--position-encoding", a->position_encoding,
                  "rope (rotary, default) or none (NoPE: order only through the causal mask; such a model "
                  "cannot be exported to GGUF)")
      ->check(CLI::IsMember({"rope", "none"}))
      ->group("Model shape (new models)");
  cmd->add_flag("--resume", a->resume, "continue the run in --out from its checkpoint (bit-exact)");

  cmd->callback([a, opts, model_opts, cmd] {
    // Before anything (the tokenizer) uses the global thread pool.
    if (cmd->get_option("--threads")->count() > 0) kernels::set_cpu_threads(a->threads);
    nlohmann::json over = nlohmann::json::object();
    for (const auto& [o, key] : opts) {
      if (o->count() == 0) continue;
      // Re-read the option's text through JSON so every type goes one way.
      const std::string text = o->as<std::string>();
      if (key == "data" || key == "out" || key == "init_from" || key == "sft" || key == "sft_val" || key == "tokenizer")
        over[key] = text;
      else
        over[key] = nlohmann::json::parse(text, nullptr, false).is_discarded() ? nlohmann::json(text)
                                                                                : nlohmann::json::parse(text);
    }
    nlohmann::json model = nlohmann::json::object();
    for (const auto& [o, key] : model_opts)
      if (o->count() > 0) model[key] = std::stoll(o->as<std::string>());
    if (cmd->get_option("--untied")->count() > 0) model["tie_word_embeddings"] = false;
    if (!a->position_encoding.empty()) model["position_encoding"] = a->position_encoding;

    TrainConfig base;
    const std::string out = over.value("out", std::string());
    if (a->resume) {
      check(!out.empty(), "train --resume needs --out");
      base = read_checkpoint_config(out);
    }
    nlohmann::json file_cfg = nlohmann::json::object();
    if (!a->config.empty()) file_cfg = load_config(a->config);
    check(file_cfg.is_object(), a->config + ": expected a table of settings");
    TrainConfig cfg = TrainConfig::from_json(file_cfg, base);
    // Model shape flags merge into the config file's "model" table.
    if (!a->resume) {
      if (cfg.tokenizer.empty() && !cfg.data_dir.empty() &&
          std::filesystem::exists(std::filesystem::path(over.value("data", cfg.data_dir)) / "tokenizer.json"))
        over["tokenizer"] = (std::filesystem::path(over.value("data", cfg.data_dir)) / "tokenizer.json").string();
      const bool vocab_given = model.contains("vocab_size") ||
                               (file_cfg.contains("model") && file_cfg["model"].contains("vocab_size"));
      const std::string tok = over.value("tokenizer", cfg.tokenizer);
      if (!vocab_given && !tok.empty() && over.value("init_from", cfg.init_from).empty())
        model["vocab_size"] = Tokenizer::load(tok).vocab_size();
      const int seq = over.value("seq", cfg.seq);
      const bool maxpos_given = model.contains("max_position_embeddings") ||
                                (file_cfg.contains("model") && file_cfg["model"].contains("max_position_embeddings"));
      if (!maxpos_given && seq > cfg.model.max_position_embeddings) model["max_position_embeddings"] = seq;
      if (model.contains("num_attention_heads") && !model.contains("num_key_value_heads") &&
          !(file_cfg.contains("model") && file_cfg["model"].contains("num_key_value_heads")))
        model["num_key_value_heads"] = model["num_attention_heads"];
    } else {
      // Re-running the same command with --resume is fine; a different shape is not.
      const nlohmann::json saved = cfg.model.to_json();
      for (auto it = model.begin(); it != model.end(); ++it)
        check(saved.contains(it.key()) && saved[it.key()] == it.value(),
              "train --resume: " + it.key() + " " + it.value().dump() + " differs from the checkpoint's " +
                  (saved.contains(it.key()) ? saved[it.key()].dump() : std::string("(unset)")));
      model = nlohmann::json::object();
    }
    if (!model.empty()) over["model"] = model;
    cfg = TrainConfig::from_json(over, cfg);

    install_stop_handlers();
    RunOptions ro;
    ro.resume = a->resume;
    ro.should_stop = stop_requested;
    RunResult r;
    try {
      r = run_training(cfg, ro);
    } catch (const std::exception& e) {
      // One rank's error must end them all, not leave them waiting in a reduction.
      if (Dist::launched() && Dist::world().multi()) Dist::world().abort(e.what());
      throw;
    }
    if (Dist::world().rank() != 0) return;
    std::printf("steps %lld  loss %.4f  val_loss %.4f%s\n", (long long)r.steps_done, r.final_loss, r.final_val_loss,
                r.stopped_early ? "  (stopped early)" : "");
  });
}

}  // namespace veritas::cli
