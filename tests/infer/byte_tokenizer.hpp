#pragma once
// The tests' byte tokenizer (256 byte tokens, then <|endoftext|> and the chat specials at
// 256..260, no merges) and a tiny random checkpoint folder that uses it, written the way
// `veritas train` writes one (config.json, model.safetensors, tokenizer.json).
#include <memory>
#include <string>
#include <vector>

#include "veritas/model/config.hpp"
#include "veritas/model/model.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/fs.hpp"

namespace veritas::test {

inline std::shared_ptr<Tokenizer> byte_tokenizer() {
  std::vector<std::string> bytes(256);
  for (int i = 0; i < 256; ++i) bytes[i] = std::string(1, (char)i);
  std::vector<AddedToken> added = {{256, kEndOfText, true}, {257, kSystem, true}, {258, kUser, true},
                                   {259, kAssistant, true}, {260, kEndOfTurn, true}};
  return std::make_shared<Tokenizer>(Tokenizer::from_bpe(bytes, {}, added));
}

// Width 32, 4 heads over 2 KV heads, `layers` blocks, random weights (seed 1);
// `max_positions` must hold the longest prompt in byte tokens.
inline fs::path tiny_checkpoint(const std::string& name, int layers, int max_positions, bool with_tokenizer = true) {
  fs::path dir = make_temp_dir(name);
  ModelConfig cfg;
  cfg.vocab_size = 261;  // 256 bytes + 5 specials
  cfg.hidden_size = 32;
  cfg.intermediate_size = 64;
  cfg.num_hidden_layers = layers;
  cfg.num_attention_heads = 4;
  cfg.num_key_value_heads = 2;
  cfg.max_position_embeddings = max_positions;
  cfg.rope_theta = 10000.0f;
  cfg.rms_norm_eps = 1e-5f;
  cfg.tie_word_embeddings = true;
  cfg.save(dir / "config.json");
  Model model(cfg, 1, 1);
  model.init_weights(1);
  model.save(dir / "model.safetensors");
  if (with_tokenizer) byte_tokenizer()->save(dir / "tokenizer.json");
  return dir;
}

}  // namespace veritas::test
