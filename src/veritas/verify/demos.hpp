#pragma once
// Worked solutions ("human demonstrations") for imitation training, with a controlled
// error rate: random slips, or one coherent false rule applied consistently (every carry
// dropped, 1 mile = 1.5 km, ...). Format in docs/verify.md#demonstrations.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace veritas {

// The longest operands the marked format can write: its 26 place letters must also name
// the extra digit of a sum.
constexpr int kMarkedMaxDigits = 25;

struct DemoOptions {
  std::string suite = "arith";     // arith (add/mul column work) | units (conversions)
  int n = 100;
  uint64_t seed = 0;
  std::string split = "train";
  double error_rate = 0.0;         // fraction of demos that carry an error
  std::string error_kind = "slip"; // slip | rule
  std::string rule = "drop_carry"; // for error_kind=rule (see demo_rules())
  int digits = 0;                  // operand digits (arith); 0 = a mix of 1..max_digits
  int max_digits = 6;
  bool same_length = false;        // the mix: both operands of one drawn length (what self-improve asks)
  std::string op = "mix";          // arith: add | mul | mix | mul1 (times a 1-digit number)
  // arith: "columns" (worked column steps, the question as written) | "reversed" (question
  // and answer with digits ones-first, Answer line only; slips only) | "marked" (reversed,
  // each digit after a letter naming its place; up to kMarkedMaxDigits) | "shuffled" (marked,
  // the question's (mark, digit) pairs in random order; the answer in order) | "ranged"
  // (shuffled, the same questions; the reply first names the operands' lowest and highest
  // place, "Places c to h.", then the answer) | "tagged" (shuffled, the second operand's
  // marks in capitals: d2e9c3 + E0C7D9). See docs/verify.md.
  std::string format = "columns";
  std::string lang = "en";         // en | zh | mix
  // Fraction of demos where the human shows no work and answers "Answer: I don't know"
  // (zh: "答案：不知道"); error_kind "abstain". Arith: per demo, probability
  // abstain_rate * 2 * digits(larger operand) / max_digits clipped to [0, 1] when digits
  // is 0 (the mix; larger problems abstain more), abstain_rate when digits is fixed.
  // Units: abstain_rate. 0 draws no extra random numbers (output unchanged).
  double abstain_rate = 0.0;
};

struct Demo {
  std::string id;
  std::string prompt;      // the question
  std::string completion;  // worked steps, then the "Answer:" line
  bool correct = true;     // whether the final answer is right (checked by the verifier)
  std::string error_kind;  // "" | slip | rule:<name> | abstain
  nlohmann::json task;     // the task (truth included), so the demo can be re-verified
  // id, prompt, completion, correct, error_kind, task, and "messages" (user: prompt,
  // assistant: completion) so a demos JSONL file is SFT data (veritas train --sft).
  nlohmann::json to_json() const;
};

std::vector<Demo> generate_demos(const DemoOptions& opts);
// Coherent false rules: name -> description.
const std::vector<std::pair<std::string, std::string>>& demo_rules();

}  // namespace veritas
