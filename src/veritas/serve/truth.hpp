#pragma once
// The truth extensions of a served answer (docs/serve.md): a confidence, whether the
// model abstained, and, when the question is one a verifier can settle, the verdict.
#include <functional>
#include <optional>
#include <string>

#include "veritas/verify/task.hpp"

namespace veritas::serve {

// A verifier task for a free-form question, or nullopt when none is recognised: physics
// formulas, linear equations and unit conversions (domains.hpp says which wordings), then
// the fact tables — a question worded as the facts suite words it (any spacing or ASCII
// case; English or Chinese), found in an index of the suite's questions built on first
// use — and arithmetic — the question holds one exact expression (integers, decimals,
// + - * / × ÷ ^ and parentheses) such as the arith suite asks ("What is 12 + 30?"); an
// expression that divides by zero becomes an impossible task.
std::optional<Task> recognise_question(const std::string& question);

struct Assessment {
  double confidence = 0;     // stated ("Confidence: p") or exp(mean token log-probability)
  bool confidence_stated = false;
  bool abstained = false;    // "Answer: I don't know"
  std::optional<bool> verified;  // set when a task was recognised and the answer is not an abstention
  std::string reason;        // the verifier's reason ("" when not verified)
};

// mean_logprob: mean log p of the generated tokens (0 when none).
Assessment assess(const std::string& answer, double mean_logprob, const std::optional<Task>& task);

// What --verified-only returns instead of a refuted answer.
extern const char* const kAbstention;

// --verified-only: draws candidates one at a time (candidate(i) for i = 0..k-1) and
// returns the index of the first one the verifier accepts, or -1 (abstain) when none is.
// Candidates the verifier refutes or cannot read are never returned. `tried` gets the
// assessment of each candidate drawn.
int pick_verified(const Task& task, int k, const std::function<std::pair<std::string, double>(int)>& candidate,
                  std::vector<Assessment>* tried = nullptr);

}  // namespace veritas::serve
