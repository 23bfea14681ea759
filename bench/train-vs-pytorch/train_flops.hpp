#pragma once
// Training FLOPs per step of B sequences of T tokens: 6 x (tokens x matmul weights, head
// included) plus causal attention (QK^T and PV, forward x 3). Shared by the veritas sides
// of bench/train-vs-pytorch and bench/train-gpu; their Python sides use the same formula
// (bench_train_torch.train_flops).
#include "veritas/model/config.hpp"

inline double train_flops(const veritas::ModelConfig& c, int B, int T) {
  const double C = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const double KC = (double)c.num_key_value_heads * c.head_dim();
  const double per_layer = 2 * C * C + 2 * C * KC + 3 * C * I;
  const double mm = (c.num_hidden_layers * per_layer + V * C) * 2.0 * B * T;
  const double att = c.num_hidden_layers * 2.0 * 2.0 * B * c.num_attention_heads * (T * (T + 1) / 2.0) * c.head_dim();
  return 3.0 * (mm + att);
}

