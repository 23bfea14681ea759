#pragma once
// Recognising free-form questions of the algebra, units and physics verifier domains
// (truth.cpp does the fact tables and arithmetic). Each returns a task whose truth the
// domain's verifier judges, computed from the question itself, or nullopt.
#include <optional>
#include <string>

#include "veritas/verify/task.hpp"

namespace veritas::serve {

// Linear equations in x, y, z, w ("Solve 3x + 7 = 22 for x.", "解方程组：2x + y = 5，x - y = 1。"):
// one or more equations with '=' whose sides are linear in those variables. A unique
// solution gives a "solution" truth; a singular system an "impossible" one (no or
// infinitely many solutions).
std::optional<Task> recognise_algebra(const std::string& question);

// Integer division asked as quotient and remainder ("What are the quotient and remainder
// when 17 is divided by 5?", "17 除以 5 的商和余数各是多少？"): a "qr" truth.
std::optional<Task> recognise_quotient(const std::string& question);

// Unit conversions and sums of quantities, worded as the units suite words them or close
// ("Convert 3 km to mile.", "How many ft is 2 m?", "What is 1 h + 30 min, expressed in s?",
// "把 3 千米 换算成英里。", "2 米 等于多少英尺？", "计算 1 小时 + 30 分钟，用秒表示。"). Units are
// read by the unit engine (any spelling it knows). Adding or converting across dimensions
// gives an "impossible" truth.
std::optional<Task> recognise_units(const std::string& question);

// Physics formula questions: the physics suite's templates (both wordings, English and
// Chinese, every topic and unit choice) with any given values. Found through an index of
// question shapes (the text with its numbers taken out) built from the suite on first use;
// the truth is the suite's formula re-evaluated with the question's numbers.
std::optional<Task> recognise_physics(const std::string& question);

}  // namespace veritas::serve
