#pragma once
// The local model as an answerer: a checkpoint folder run by infer's Engine, prompted
// through the chat template with the answer-protocol system prompt or a versioned prompt
// set (system message + few-shot turns).
#include <memory>
#include <optional>
#include <string>

#include "veritas/eval/answerer.hpp"
#include "veritas/eval/prompt.hpp"

namespace veritas {
class Tokenizer;
}
namespace veritas::infer {
class Engine;
}

namespace veritas::eval {

struct LocalOptions {
  std::string dir;                 // config.json + model.safetensors + tokenizer.json
  std::string precision = "fp32";  // fp32 | bf16 | int8
  std::string device = "cpu";      // EngineOptions::device
  double temperature = 0;          // k == 1: greedy by default (reproducible)
  double sample_temperature = 0.7; // k > 1: samples must differ
  int max_tokens = 256;
  uint64_t seed = 0;
  bool system_prompt = true;       // the built-in protocol prompt (when no prompt set)
  std::string prompt_dir;          // a versioned prompt set (eval/prompt.hpp); overrides the built-in one
};

class LocalAnswerer : public Answerer {
 public:
  explicit LocalAnswerer(const LocalOptions& opts);
  ~LocalAnswerer() override;
  std::vector<std::string> answer(const Task& task, int k) override;
  int max_parallel() const override { return 1; }  // the engine runs one call at a time
  std::string describe() const override;
  nlohmann::json prompt() const override;
  // The exact text the model reads for this task: system, few-shot turns and the question
  // through the model's chat template, ending with the assistant's turn opener.
  std::string prompt_text(const Task& task) const;
  std::vector<int32_t> prompt_tokens(const Task& task) const;  // what answer() feeds the model
  const Tokenizer& tokenizer() const;

 private:
  LocalOptions opts_;
  std::unique_ptr<infer::Engine> engine_;
  int64_t context_ = 0;  // KV-cache capacity: longest prompt + answer
  std::optional<PromptSet> prompts_;
};

}  // namespace veritas::eval
