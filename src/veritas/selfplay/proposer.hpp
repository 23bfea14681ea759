#pragma once
// Where self-play's questions come from (docs/selfplay.md):
//
// (a) the curriculum: the task generators at a difficulty level per suite, moved up or
//     down each round so that the solver's solve rate stays inside a learnability band;
// (b) the model itself: asked to propose a question, it writes one in the task grammar
//     ("What is <expression>?"); the verifier parses it and computes the true answer, or
//     rejects it. A question the verifier cannot settle is never used. The proposal is
//     rewarded for being learnable: 1 - s when the solver's solve rate s lies strictly
//     between 0 and 1, else 0 (as in Absolute Zero).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "veritas/verify/task.hpp"

namespace veritas::selfplay {

// The suites self-play draws from: "add" and "mul" (the demonstrations' column
// arithmetic, "What is 123 + 45?", operands of up to `level` digits) and the verify
// suites (arith, algebra, units, physics, facts, impossible; `level` sets arith's digits).
const std::vector<std::string>& selfplay_suites();

struct CurriculumConfig {
  double band_lo = 0.2, band_hi = 0.8;  // keep the solve rate inside [band_lo, band_hi]
  int min_level = 1, max_level = 12;
};

// n train-split tasks of `suite` at `level`, in language lang (en | zh | mix);
// deterministic in seed.
std::vector<Task> curriculum_tasks(const std::string& suite, int level, int n, uint64_t seed, const std::string& lang);
// +1 above the band, -1 below it, clamped to [min_level, max_level].
int adjust_level(int level, double solve_rate, const CurriculumConfig& cfg);

// What the model is asked in order to propose a question.
std::string proposer_instruction(const std::string& lang);

struct ProposalCheck {
  std::optional<Task> task;  // set when the verifier can settle the question
  std::string reject;        // otherwise why not: ill-formed | not-train-split | too-large | no-value
};
// Parses a proposed question: "What is <expr>?" or "计算 <expr>。", where <expr> uses
// non-negative integers (at most max_digits digits each), + - * / ^ and parentheses, with
// at most 4 operators. The expression is put in canonical spacing ("12+5" -> "12 + 5") so
// a question can be recognised whatever its spacing; questions of the dev and test splits
// are rejected (self-play never trains on evaluation questions).
ProposalCheck check_proposal(const std::string& text, int max_digits, const std::string& id);

// Absolute Zero's learnability reward: 1 - s for 0 < s < 1, else 0.
double learnability(double solve_rate);

}  // namespace veritas::selfplay
