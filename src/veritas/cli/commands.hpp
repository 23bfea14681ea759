#pragma once
// Each subcommand lives in its own file in cli/ and registers itself here; main.cpp
// only builds the top-level app and dispatches.
#include <CLI/CLI.hpp>

namespace veritas::cli {

void register_tokenizer(CLI::App& app);  // tokenizer train|encode|decode|import-gpt2
void register_tokenize(CLI::App& app);   // text/JSONL -> token shards
void register_train(CLI::App& app);
void register_sample(CLI::App& app);
void register_chat(CLI::App& app);
void register_curate(CLI::App& app);     // curate, curate dedup, curate synth, ...
void register_tasks(CLI::App& app);      // tasks generate|check|demos
void register_eval(CLI::App& app);
void register_selfplay(CLI::App& app);  // self-play against the verifiers
void register_self_improve(CLI::App& app);  // self-labelled rounds with a length curriculum
void register_serve(CLI::App& app);       // the OpenAI-compatible server
void register_keys(CLI::App& app);        // keys add|list|revoke for serve
void register_export(CLI::App& app);      // checkpoint -> GGUF
void register_import(CLI::App& app);      // GGUF / Hugging Face -> trainable checkpoint
void register_perplexity(CLI::App& app);  // held-out text perplexity
void register_run(CLI::App& app);        // the whole pipeline on the bundled default

}  // namespace veritas::cli
