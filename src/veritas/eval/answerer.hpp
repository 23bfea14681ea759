#pragma once
// Who answers the evaluation's questions: an OpenAI-compatible endpoint, the local model
// (infer's engine), or a test double. The harness only sees this interface.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "veritas/verify/task.hpp"

namespace veritas::eval {

class Answerer {
 public:
  virtual ~Answerer() = default;
  // k independent answer texts to task.question (asked in task.lang). Only the doubles
  // look at anything else in the task (the reference line).
  virtual std::vector<std::string> answer(const Task& task, int k) = 0;
  // How many answer() calls may run at once (endpoints: several requests in flight).
  virtual int max_parallel() const { return 1; }
  // One line for the report: what was evaluated.
  virtual std::string describe() const = 0;
  // Which prompt the questions were asked with (results.json "prompt"): the prompt set's
  // version and hash (eval/prompt.hpp), the built-in system prompt, or none.
  virtual nlohmann::json prompt() const { return nullptr; }
};

// The system prompt that tells a model the answer protocol (docs/answer-protocol.md).
std::string protocol_prompt(const std::string& lang);

// ---- test doubles: anyone can run them (`veritas eval --double KIND`) -------------------
struct DoubleOptions {
  std::string kind = "perfect";  // perfect | abstain | random | calibrated
  // random / calibrated: how each answer is drawn (the rest, 1 - sum, is malformed).
  double p_correct = 0.5, p_wrong = 0.3, p_abstain = 0.2;
  uint64_t seed = 0;
};
// perfect: answers the task's reference line with "Confidence: 1".
// abstain: always "Answer: I don't know" (which is the right answer to impossible tasks).
// random: the reference, a verified-wrong answer, an abstention or a malformed text with
//   the probabilities above, and a confidence drawn uniformly from [0, 1] independent of
//   correctness (an uncalibrated model).
// calibrated: like random, but an attempted answer with confidence c is right with
//   probability c (a perfectly calibrated model: ECE -> 0 as n grows).
// Draws depend only on (seed, task id, sample index), so parallel runs are reproducible.
std::unique_ptr<Answerer> make_double(const DoubleOptions& opts);
const std::vector<std::string>& double_kinds();

// A concrete answer that the verifier scores Wrong for this task (the reference with its
// leading significant digit changed, or a stock answer), or "" when none was found.
std::string wrong_answer(const Task& task);

}  // namespace veritas::eval
