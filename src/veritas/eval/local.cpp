#include "veritas/eval/local.hpp"

#include <cstdio>

#include "veritas/infer/chat.hpp"
#include "veritas/infer/engine.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/hash.hpp"

namespace veritas::eval {

LocalAnswerer::LocalAnswerer(const LocalOptions& opts) : opts_(opts) {
  check(opts_.max_tokens >= 1, "--max-tokens must be at least 1");
  infer::EngineOptions eo;
  eo.precision = infer::parse_precision(opts_.precision);
  eo.device = opts_.device;
  engine_ = std::make_unique<infer::Engine>(infer::Engine::load(opts_.dir, eo));
  context_ = engine_->new_cache().capacity();
  check(engine_->tokenizer() != nullptr,
        "checkpoint " + opts_.dir + " has no tokenizer.json: the model cannot read questions without it");
  if (!opts_.prompt_dir.empty()) prompts_ = load_prompt_set(opts_.prompt_dir);
}

LocalAnswerer::~LocalAnswerer() = default;

std::string LocalAnswerer::describe() const {
  std::string d = "local model " + opts_.dir + " (" + opts_.precision + (opts_.device == "cpu" ? "" : ", " + engine_->device()) + ")";
  if (prompts_) d += ", prompt set " + prompts_->version + " (" + prompts_->hash + ")";
  return d;
}

nlohmann::json LocalAnswerer::prompt() const {
  if (prompts_) return prompts_->to_json();
  return opts_.system_prompt ? nlohmann::json{{"version", "builtin"}} : nlohmann::json{{"version", "none"}};
}

std::string LocalAnswerer::prompt_text(const Task& task) const {
  return chat_text(chat_template_of(*engine_->tokenizer()), prompt_messages(prompts_ ? &*prompts_ : nullptr,
                                                                            opts_.system_prompt, task),
                   true);
}

std::vector<int32_t> LocalAnswerer::prompt_tokens(const Task& task) const {
  return chat_tokens(*engine_->tokenizer(), prompt_messages(prompts_ ? &*prompts_ : nullptr, opts_.system_prompt, task),
                     true);
}

const Tokenizer& LocalAnswerer::tokenizer() const { return *engine_->tokenizer(); }

std::vector<std::string> LocalAnswerer::answer(const Task& task, int k) {
  auto prompt = prompt_tokens(task);
  infer::SamplingOptions so;
  so.max_tokens = opts_.max_tokens;
  so.temperature = (float)(k == 1 ? opts_.temperature : opts_.sample_temperature);
  // The seed depends on the task, not on the order questions are asked in.
  so.seed = opts_.seed ^ fnv1a(task.id);
  std::vector<std::string> out;
  // A question longer than the model's context cannot be asked: it gets empty answers,
  // which score as malformed (counted, never silently right or wrong), and the run goes on.
  if ((int64_t)prompt.size() >= context_) {
    std::fprintf(stderr, "warning: task %s: prompt of %zu tokens does not fit the model's context\n", task.id.c_str(),
                 prompt.size());
    return std::vector<std::string>(k);
  }
  if (k == 1) {
    out.push_back(engine_->generate(prompt, so).text);
  } else {
    for (auto& g : engine_->generate_k(prompt, k, so)) out.push_back(std::move(g.text));
  }
  return out;
}

}  // namespace veritas::eval
