#pragma once
// Internal interface between the task file format (task.cpp), the judges (judge.cpp)
// and the suite generators (arith.cpp, algebra.cpp, units_suite.cpp, physics.cpp,
// facts.cpp, impossible.cpp).
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "veritas/util/error.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/verify/answer.hpp"
#include "veritas/verify/task.hpp"

namespace veritas::suites {

using json = nlohmann::json;

// One generated question before it is assigned an id. `key` is its canonical content
// (language- and template-independent): the split is a function of hash(key), so the
// same question can never land in two splits.
struct Candidate {
  std::string key;
  std::string lang;
  std::string question;
  json truth;
  json difficulty;
  std::string reference;  // "Answer: ..." line
};

Candidate gen_arith(Rng& rng, const json& difficulty, const std::string& lang);
Candidate gen_algebra(Rng& rng, const json& difficulty, const std::string& lang);
Candidate gen_units(Rng& rng, const json& difficulty, const std::string& lang);
Candidate gen_physics(Rng& rng, const json& difficulty, const std::string& lang);
Candidate gen_facts(Rng& rng, const json& difficulty, const std::string& lang);
Candidate gen_impossible(Rng& rng, const json& difficulty, const std::string& lang);
// One impossible question of a given kind (see impossible_kinds()).
Candidate gen_impossible_kind(Rng& rng, const std::string& kind, const std::string& lang);
const std::vector<std::string>& impossible_kinds();

// Scores a parsed answer against a task's truth object.
Score judge(const json& truth, const ParsedAnswer& answer);

std::string split_of_key(const std::string& key);  // train (80%) | dev (10%) | test (10%)

// Helpers shared by the generators.
template <class T>
const T& pick(Rng& rng, const std::vector<T>& v) { return v[rng.below(v.size())]; }
std::string fmt_double(double x, int sig);  // "%.{sig}g" without exponent noise where possible

}  // namespace veritas::suites
