#pragma once
// Supervised fine-tuning data: (prompt, answer) pairs where only the answer's tokens
// (and the end-of-turn token that follows it) count in the loss.
//
// JSONL input, one object a line, either
//   {"prompt": "...", "answer": "..."}                 prompt used as given (specials allowed)
//   {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
// A messages line is encoded with the chat template below (role and end markers as
// special tokens, contents as plain text, so a content holding "<|end|>" cannot forge a
// turn); its last message must be the assistant's answer:
//   <|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\n   + answer + <|end|>
// (the chat template of tokenizer/chat_template.hpp; generation uses the same)
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/train/trainer.hpp"

namespace veritas {

struct SftPair {
  std::string prompt, answer;         // prompt: as given, or the messages rendered as text
  std::vector<ChatMessage> messages;  // a messages line's prompt turns (empty for a prompt line)
};

struct SftExample {
  std::vector<int32_t> tokens;  // prompt then answer then end-of-turn
  int32_t answer_start = 0;     // index of the first answer token
};

// Checks chat messages and returns all but the last (which must be the assistant's).
std::vector<ChatMessage> chat_prompt_messages(const nlohmann::json& messages, const std::string& origin);
SftExample make_sft_example(const Tokenizer& tok, const SftPair& pair);
// One line: {"messages": [..., assistant]} or {"prompt", "answer"}; errors name `where`.
SftPair sft_pair_from_json(const nlohmann::json& j, const std::string& where);
// Reads the JSONL; errors name the file and line.
std::vector<SftPair> load_sft_jsonl(const std::filesystem::path& path);

// Fits examples into B x T batches: sequence = tokens[0..T], targets shifted by one,
// mask = 1 where the target is an answer token. Longer examples lose prompt tokens from
// the front (the answer is what is learned); shorter ones are padded with mask 0.
// Training draws examples with a seeded RNG (its state is the source's state);
// sequential = true walks them in order (validation).
class SftSource : public BatchSource {
 public:
  SftSource(std::vector<SftExample> examples, int B, int T, int32_t pad_id, uint64_t seed, bool sequential);
  void next(Batch& b) override;
  nlohmann::json state() const override;
  void set_state(const nlohmann::json& s) override;
  void reset() override;
  size_t size() const { return examples_.size(); }

 private:
  std::vector<SftExample> examples_;
  int B_, T_;
  int32_t pad_;
  uint64_t seed_;
  bool sequential_;
  Rng rng_;
  uint64_t cursor_ = 0;
};

// Fine-tunes trainer's model on pairs for `steps` optimizer steps (only answer tokens
// count) and returns each step's stats. The trainer's train source is replaced.
std::vector<StepStats> train_sft(Trainer& trainer, const std::vector<SftPair>& pairs, const Tokenizer& tok,
                                 int64_t steps);

}  // namespace veritas
