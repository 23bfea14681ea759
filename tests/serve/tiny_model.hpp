#pragma once
// A tiny random-weight Llama with a byte tokenizer (256 bytes + chat specials), for the
// serve tests: fast, deterministic, no files.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "veritas/infer/engine.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "../infer/byte_tokenizer.hpp"
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

inline infer::Engine tiny_engine(uint64_t seed = 1) {
  infer::Engine e = infer::Engine::from_weights(tiny_config(), random_source(seed));
  e.set_tokenizer(byte_tokenizer());
  return e;
}

}  // namespace veritas::test
