// Model::set_train_from_layer: the gradients of the trained part equal those of the full
// backward pass (itself checked against PyTorch in model_test), the frozen part gets
// none, and the data-parallel hook still sees every parameter once.
#include <gtest/gtest.h>

#include <vector>

#include "veritas/model/model.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/rng.hpp"

using namespace veritas;

namespace {

ModelConfig cfg3(bool tied) {
  ModelConfig c;
  c.vocab_size = 80;
  c.hidden_size = 48;
  c.intermediate_size = 112;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 32;
  c.tie_word_embeddings = tied;
  return c;
}

void fill(Model& m) {
  Rng r(11);
  for (auto& p : m.params())
    for (int64_t i = 0; i < p.size; ++i) p.data[i] = p.shape.size() == 1 ? 1.0f + 0.2f * (float)r.normal() : 0.3f * (float)r.normal();
}

}  // namespace

TEST(FrozenLayers, TrainedPartMatchesFullBackward) {
  for (bool tied : {true, false}) {
    const int B = 2, T = 12;
    Model m(cfg3(tied), B, T);
    fill(m);
    Rng r(3);
    std::vector<int32_t> in(B * T), tg(B * T);
    std::vector<float> mask(B * T);
    for (int i = 0; i < B * T; ++i) in[i] = (int32_t)(r.next() % 80), tg[i] = (int32_t)(r.next() % 80), mask[i] = i % 3 ? 1.0f : 0.0f;
    m.zero_grad();
    const float full_loss = m.forward_backward(in.data(), tg.data(), mask.data(), B, T);
    std::vector<std::vector<float>> full;
    for (auto& p : m.params()) full.emplace_back(p.grad, p.grad + p.size);
    for (int first : {1, 2}) {
      m.set_train_from_layer(first);
      EXPECT_EQ(m.train_from_layer(), first);
      std::vector<int> seen(m.params().size(), 0);
      m.set_grad_ready_hook([&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) ++seen[i];
      });
      m.zero_grad();
      EXPECT_EQ(m.forward_backward(in.data(), tg.data(), mask.data(), B, T), full_loss);
      m.set_grad_ready_hook({});
      for (size_t i = 0; i < m.params().size(); ++i) {
        const Param& p = m.params()[i];
        EXPECT_EQ(seen[i], 1) << p.name;
        const bool trained = p.name.rfind("model.layers.", 0) == 0
                                 ? std::stoi(p.name.substr(13)) >= first
                                 : p.name != "model.embed_tokens.weight";  // final norm, untied head
        EXPECT_EQ(p.trainable, trained) << p.name;
        double nz = 0;
        for (int64_t k = 0; k < p.size; ++k) {
          if (trained) ASSERT_EQ(p.grad[k], full[i][k]) << p.name << "[" << k << "] first " << first << " tied " << tied;
          nz += p.grad[k] != 0.0f;
        }
        if (!trained) EXPECT_EQ(nz, 0) << p.name;
        else EXPECT_GT(nz, 0) << p.name;
      }
    }
    m.set_train_from_layer(0);
    for (auto& p : m.params()) EXPECT_TRUE(p.trainable) << p.name;
  }
}

TEST(FrozenLayers, BadLayerIsAClearError) {
  Model m(cfg3(true), 1, 4);
  EXPECT_THROW(m.set_train_from_layer(-1), Error);
  EXPECT_THROW(m.set_train_from_layer(3), Error);
}
