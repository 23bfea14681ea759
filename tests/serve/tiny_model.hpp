#pragma once
// A tiny random-weight Llama with a byte tokenizer (256 bytes + chat specials), for the
// serve tests: fast, deterministic, no files.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "veritas/infer/engine.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "../infer/random_weights.hpp"

namespace veritas::test {

inline ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 270;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 256;
  c.rope_theta = 10000.0f;
  c.rms_norm_eps = 1e-5f;
  c.tie_word_embeddings = true;
  return c;
}

inline std::shared_ptr<Tokenizer> byte_tokenizer() {
  std::vector<std::string> bytes(256);
  for (int i = 0; i < 256; ++i) bytes[i] = std::string(1, (char)i);
  std::vector<AddedToken> added = {{256, kEndOfText, true}, {257, kSystem, true}, {258, kUser, true},
                                   {259, kAssistant, true}, {260, kEndOfTurn, true}};
  return std::make_shared<Tokenizer>(Tokenizer::from_bpe(bytes, {}, added));
}

inline infer::Engine tiny_engine(uint64_t seed = 1) {
  infer::Engine e = infer::Engine::from_weights(tiny_config(), random_source(seed));
  e.set_tokenizer(byte_tokenizer());
  return e;
}

}  // namespace veritas::test
