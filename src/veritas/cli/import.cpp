// veritas import: a GGUF file or Hugging Face folder as a trainable fp32 checkpoint
// (infer/import.hpp).
#include <cstdio>
#include <memory>
#include <string>

#include "veritas/cli/commands.hpp"
#include "veritas/infer/import.hpp"

namespace veritas::cli {

void register_import(CLI::App& app) {
  auto src = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("import", "turn a GGUF file or Hugging Face folder into a trainable fp32 checkpoint");
  cmd->footer(
      "Quantized GGUF tensors are dequantized to fp32 (the values --precision f32 generation uses). The folder holds\n"
      "config.json, model.safetensors, tokenizer.json and tokenizer_config.json (the model's chat template and eos),\n"
      "ready for `veritas train --init-from`, `--sft`, `veritas selfplay --model` and `veritas eval --model`.\n"
      "Example: veritas import SmolLM2-135M-Instruct.Q4_1.gguf -o models/smollm2");
  cmd->add_option("model", *src, "GGUF file or Hugging Face model folder")->required()->check(CLI::ExistingPath);
  cmd->add_option("-o,--out", *out, "output checkpoint folder (must not exist, or be empty)")->required();
  cmd->callback([src, out] {
    auto r = infer::import_checkpoint(*src, *out);
    std::printf("wrote %s: %lld parameters (fp32), %d layers, hidden %d, %d heads / %d kv heads, vocab %d, chat template %s\n",
                out->c_str(), (long long)r.params, r.config.num_hidden_layers, r.config.hidden_size,
                r.config.num_attention_heads, r.config.num_key_value_heads, r.config.vocab_size, r.chat_template.c_str());
  });
}

}  // namespace veritas::cli
