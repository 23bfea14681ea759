// Training the last K blocks only (TrainConfig::train_layers) and SFT through an imported
// model's chat template (tokenizer_config.json next to tokenizer.json).
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/tokenizer_files.hpp"
#include "veritas/tokenizer/train.hpp"
#include "veritas/train/sft.hpp"
#include "veritas/train/trainer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/temp_dir.hpp"

using namespace veritas;
namespace fs = std::filesystem;

namespace {

TrainConfig frozen_cfg(int train_layers) {
  TrainConfig c;
  c.model.vocab_size = 40;
  c.model.hidden_size = 32;
  c.model.intermediate_size = 64;
  c.model.num_hidden_layers = 3;
  c.model.num_attention_heads = 4;
  c.model.num_key_value_heads = 2;
  c.model.max_position_embeddings = 16;
  c.batch = 2;
  c.seq = 8;
  c.steps = 5;
  c.lr = 1e-2;
  c.warmup = 0;
  c.adamw.weight_decay = 0.1;  // a frozen matrix must not decay either
  c.train_layers = train_layers;
  return c;
}

Batch batch(uint64_t seed) {
  Rng r(seed);
  Batch b;
  b.B = 2;
  b.T = 8;
  for (int i = 0; i < 16; ++i) b.inputs.push_back((int32_t)r.below(40)), b.targets.push_back((int32_t)r.below(40));
  return b;
}

}  // namespace

TEST(TrainLayers, FrozenPartNeverMoves) {
  Trainer t(frozen_cfg(1));
  std::vector<std::vector<float>> before;
  for (auto& p : t.model().params()) before.emplace_back(p.data, p.data + p.size);
  for (int s = 0; s < 3; ++s) t.step_on({batch(s)});
  for (size_t i = 0; i < t.model().params().size(); ++i) {
    const Param& p = t.model().params()[i];
    const bool trained = p.name.rfind("model.layers.2.", 0) == 0 || p.name == "model.norm.weight";
    EXPECT_EQ(p.trainable, trained) << p.name;
    const bool same = std::equal(p.data, p.data + p.size, before[i].begin());
    EXPECT_EQ(same, !trained) << p.name;
  }
}

TEST(TrainLayers, SameStepsAsFullTrainingOnTheTrainedPart) {
  // One step: the trained part's update equals full training's (same gradients there;
  // AdamW is elementwise), so freezing changes nothing but what is frozen.
  TrainConfig c = frozen_cfg(0);
  c.clip = 0;
  Trainer full(c);
  c.train_layers = 2;
  Trainer part(c);
  full.step_on({batch(7)});
  part.step_on({batch(7)});
  for (size_t i = 0; i < full.model().params().size(); ++i) {
    const Param &a = full.model().params()[i], &b = part.model().params()[i];
    if (!b.trainable) continue;
    for (int64_t k = 0; k < a.size; ++k) ASSERT_EQ(a.data[k], b.data[k]) << a.name << "[" << k << "]";
  }
}

TEST(TrainLayers, SettingIsSavedAndChecked) {
  TrainConfig c = frozen_cfg(2);
  EXPECT_EQ(TrainConfig::from_json(c.to_json()).train_layers, 2);
  c.train_layers = 4;
  EXPECT_THROW(c.validate(), Error);
  c.train_layers = 1;
  c.zero = 1;
  EXPECT_THROW(c.validate(), Error);
}

TEST(TrainLayers, ChatMLSftEndsWithImEndAndCheckpointKeepsTheTemplate) {
  const TempDir tmp("veritas-frozen-");
  BpeTrainer bt;
  bt.add_text("what is two plus two? Answer: 4 Confidence: 0.9");
  Tokenizer tok = bt.train(320, {"<|endoftext|>", "<|im_start|>", "<|im_end|>"});
  tok.set_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}");
  tok.set_eos_id(*tok.token_id("<|im_end|>"));
  fs::create_directories(tmp.path() / "tok");
  save_tokenizer_files(tok, tmp.path() / "tok");
  Tokenizer back = load_tokenizer_files(tmp.path() / "tok/tokenizer.json");
  ASSERT_EQ(chat_template_of(back).format, ChatFormat::ChatML);
  EXPECT_EQ(back.eos_id(), tok.token_id("<|im_end|>"));
  SftPair p;
  p.messages = {{"user", "what is two plus two?"}};
  p.answer = "Answer: 4\nConfidence: 0.9";
  SftExample ex = make_sft_example(back, p);
  EXPECT_EQ(ex.tokens.back(), *tok.token_id("<|im_end|>"));
  // Train one SFT step from a file and check the checkpoint carries tokenizer_config.json.
  atomic_write_file(tmp.path() / "sft.jsonl",
                    nlohmann::json{{"messages", {{{"role", "user"}, {"content", "what is two plus two?"}},
                                                 {{"role", "assistant"}, {"content", p.answer}}}}}
                            .dump() + "\n");
  TrainConfig c = frozen_cfg(1);
  c.model.vocab_size = back.vocab_size();
  c.model.max_position_embeddings = 64;
  c.seq = 48;
  c.sft = (tmp.path() / "sft.jsonl").string();
  c.tokenizer = (tmp.path() / "tok/tokenizer.json").string();
  Trainer t(c);
  t.step();
  t.save_checkpoint(tmp.path() / "run");
  Tokenizer saved = load_tokenizer_files(find_checkpoint(tmp.path() / "run") / "tokenizer.json");
  EXPECT_EQ(chat_template_of(saved).format, ChatFormat::ChatML);
  Trainer resumed(c);
  resumed.load_checkpoint(tmp.path() / "run");
  EXPECT_EQ(resumed.step_count(), 1);
}
