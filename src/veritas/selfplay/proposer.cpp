#include "veritas/selfplay/proposer.hpp"

#include <algorithm>

#include "veritas/util/error.hpp"
#include "veritas/util/text.hpp"
#include "veritas/verify/demos.hpp"
#include "veritas/verify/exact.hpp"
#include "veritas/verify/suites.hpp"

namespace veritas::selfplay {

using nlohmann::json;

const std::vector<std::string>& selfplay_suites() {
  static const std::vector<std::string> s = {"add", "mul", "arith", "algebra", "units", "physics", "facts", "impossible"};
  return s;
}

std::vector<Task> curriculum_tasks(const std::string& suite, int level, int n, uint64_t seed, const std::string& lang) {
  check(level >= 1, "curriculum level must be at least 1");
  std::vector<Task> out;
  if (suite == "add" || suite == "mul") {
    DemoOptions o;
    o.suite = "arith";
    o.op = suite;
    o.n = n;
    o.seed = seed;
    o.split = "train";
    o.digits = 0;
    o.max_digits = level;
    o.lang = lang;
    for (auto& d : generate_demos(o)) {
      Task t = Task::from_json(d.task);
      t.id = "sp-" + suite + "-" + std::to_string(seed) + "-" + std::to_string(out.size());
      out.push_back(std::move(t));
    }
    return out;
  }
  const auto& known = selfplay_suites();
  check(std::find(known.begin(), known.end(), suite) != known.end(), "unknown self-play suite '" + suite + "'");
  SuiteOptions so;
  so.suite = suite;
  so.n = n;
  so.seed = seed;
  so.split = "train";
  so.difficulty = {{"lang", lang}};
  if (suite == "arith") so.difficulty["digits"] = level;
  return generate_tasks(so);
}

int adjust_level(int level, double solve_rate, const CurriculumConfig& cfg) {
  if (solve_rate > cfg.band_hi) ++level;
  else if (solve_rate < cfg.band_lo) --level;
  return std::clamp(level, cfg.min_level, cfg.max_level);
}

std::string proposer_instruction(const std::string& lang) {
  return lang == "zh" ? "出一道新的算术题。" : "Propose a new arithmetic question.";
}

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// Canonical spacing, or "" when the expression is outside the proposal grammar.
std::string canonical(const std::string& expr, int max_digits, int* longest, bool* too_large) {
  std::string out;
  int ops = 0, run = 0, depth = 0;
  bool expect_operand = true;
  *longest = 0;
  *too_large = false;
  for (size_t i = 0; i <= expr.size(); ++i) {
    const char c = i < expr.size() ? expr[i] : '\0';
    if (c >= '0' && c <= '9') {
      if (!expect_operand && run == 0) return "";
      if (run == 0 && c == '0' && i + 1 < expr.size() && expr[i + 1] >= '0' && expr[i + 1] <= '9') return "";
      out.push_back(c);
      ++run;
      continue;
    }
    if (run) {
      *longest = std::max(*longest, run);
      if (run > max_digits) *too_large = true;
      run = 0;
      expect_operand = false;
    }
    if (c == '\0' || c == ' ') continue;
    if (c == '(') {
      if (!expect_operand) return "";
      out.push_back(c);
      ++depth;
    } else if (c == ')') {
      if (expect_operand || depth == 0) return "";
      out.push_back(c);
      --depth;
    } else if (c == '+' || c == '-' || c == '*' || c == '/' || c == '^') {
      if (expect_operand) return "";  // no unary operators
      if (++ops > 4) return "";
      if (c == '^') out.push_back(c);
      else out += std::string(" ") + c + " ";
      expect_operand = true;
    } else {
      return "";
    }
  }
  if (expect_operand || depth != 0 || ops == 0) return "";
  return out;
}

}  // namespace

ProposalCheck check_proposal(const std::string& text, int max_digits, const std::string& id) {
  ProposalCheck r;
  std::string s(trim(text)), expr, lang = "en";
  if (starts_with(s, "What is ") && ends_with(s, "?")) {
    expr = s.substr(8, s.size() - 9);
  } else if (starts_with(s, "计算 ") && ends_with(s, "。")) {
    expr = s.substr(std::string("计算 ").size(), s.size() - std::string("计算 ").size() - std::string("。").size());
    lang = "zh";
  } else {
    r.reject = "ill-formed";
    return r;
  }
  int longest = 0;
  bool too_large = false;
  const std::string canon = expr.size() > 120 ? "" : canonical(expr, max_digits, &longest, &too_large);
  if (canon.empty()) {
    r.reject = "ill-formed";
    return r;
  }
  if (too_large) {
    r.reject = "too-large";
    return r;
  }
  mpq_class v;
  try {
    v = exact::eval(canon);
  } catch (const Error&) {  // includes division by zero: no value to learn
    r.reject = "no-value";
    return r;
  }
  // Exponents that blow up the answer are not worth a solver's time.
  if (mpz_sizeinbase(v.get_num_mpz_t(), 10) > 64 || mpz_sizeinbase(v.get_den_mpz_t(), 10) > 64) {
    r.reject = "too-large";
    return r;
  }
  const std::string key = "arith:" + canon;
  if (suites::split_of_key(key) != "train") {
    r.reject = "not-train-split";
    return r;
  }
  Task t;
  t.id = id;
  t.suite = "arith";
  t.split = "train";
  t.lang = lang;
  t.question = lang == "zh" ? "计算 " + canon + "。" : "What is " + canon + "?";
  std::string py = canon;
  for (size_t p; (p = py.find('^')) != std::string::npos;) py.replace(p, 1, "**");
  t.truth = {{"kind", "exact"}, {"value", exact::to_string(v)}, {"expr", py}, {"key", key}};
  t.difficulty = {{"digits", longest}, {"form", "proposed"}};
  t.reference = std::string(lang == "zh" ? "答案：" : "Answer: ") + exact::to_string(v);
  r.task = std::move(t);
  return r;
}

double learnability(double solve_rate) { return solve_rate > 0 && solve_rate < 1 ? 1.0 - solve_rate : 0.0; }

}  // namespace veritas::selfplay
