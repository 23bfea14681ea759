// veritas export: a checkpoint as a GGUF file that llama.cpp loads (infer/gguf_export.hpp).
#include <cstdio>
#include <memory>
#include <string>

#include "veritas/cli/commands.hpp"
#include "veritas/infer/gguf_export.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace veritas::cli {

namespace {

struct Options {
  std::string checkpoint, out, type = "f16", tokenizer;
};

void run_export(const Options& o) {
  check(!o.out.empty(), "export: give the output file with --gguf OUT.gguf");
  GgmlType t = o.type == "f32" ? GgmlType::F32 : o.type == "f16" ? GgmlType::F16 : GgmlType::Q8_0;
  infer::export_checkpoint_gguf(o.checkpoint, o.tokenizer, t, o.out);
  std::error_code ec;
  std::printf("wrote %s (%s, %.1f MB)\n", o.out.c_str(), o.type.c_str(), (double)fs::file_size(o.out, ec) / 1e6);
}

}  // namespace

void register_export(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "export",
      "write a checkpoint as a GGUF file for llama.cpp (architecture llama, tokenizer gpt2 byte-level BPE)");
  cmd->footer(
      "Matrices are stored as --type (q8_0 falls back to f16 for rows that are not a multiple of 32), norm weights as\n"
      "f32; q/k rows carry llama.cpp's rotary permutation. The tokenizer (tokenizer.json in the checkpoint, or\n"
      "--tokenizer) goes in as tokenizer.ggml.* with pre-tokenizer gpt-2, bos = eos = <|endoftext|> and veritas's\n"
      "chat template as Jinja. The file is written to a temporary name, then renamed.\n"
      "Example: veritas export --gguf model.gguf --type q8_0 runs/tiny");
  cmd->add_option("checkpoint", o->checkpoint,
                  "checkpoint folder (config.json, model.safetensors, tokenizer.json) or a training run's folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--gguf", o->out, "output GGUF file")->required();
  cmd->add_option("--type", o->type, "matrix type: f32, f16 or q8_0")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "f16", "q8_0"}));
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json to use instead of the checkpoint's")->check(CLI::ExistingFile);
  cmd->callback([o] { run_export(*o); });
}

}  // namespace veritas::cli
