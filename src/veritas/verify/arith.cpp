// The arith suite: exact integer and rational arithmetic of any size.
#include "veritas/verify/exact.hpp"
#include "veritas/verify/suites.hpp"

namespace veritas::suites {

namespace {

std::string random_digits(Rng& rng, int digits) {
  std::string s;
  s.push_back(char('1' + rng.below(9)));
  for (int i = 1; i < digits; i++) s.push_back(char('0' + rng.below(10)));
  return s;
}

struct Node {
  std::string text;  // rendered expression
  int prec;          // 1: + -, 2: * / // %, 3: ^, 4: atom
};

// Builds an expression with `steps` binary operations over numbers of up to `digits` digits.
Node build(Rng& rng, int steps, int digits, bool allow_div) {
  if (steps == 0) {
    int d = 1 + (int)rng.below(digits);
    return {random_digits(rng, d), 4};
  }
  int op = (int)rng.below(allow_div ? 5 : 4);  // + - * ^ /
  if (op == 3) {
    // A power: small base, exponent 2..4, counts as one step.
    int base_digits = std::max(1, std::min(digits, 3));
    Node b{random_digits(rng, 1 + (int)rng.below(base_digits)), 4};
    Node p{b.text + "^" + std::to_string(2 + rng.below(3)), 3};
    if (steps == 1) return p;
    Node rest = build(rng, steps - 1, digits, allow_div);
    bool left = rng.below(2);
    const char* o = rng.below(2) ? " + " : " * ";
    int prec = o[1] == '+' ? 1 : 2;
    auto wrap = [&](const Node& n) { return n.prec < prec ? "(" + n.text + ")" : n.text; };
    return left ? Node{wrap(p) + o + wrap(rest), prec} : Node{wrap(rest) + o + wrap(p), prec};
  }
  int ls = (int)rng.below(steps);
  Node l = build(rng, ls, digits, allow_div), r = build(rng, steps - 1 - ls, digits, allow_div);
  const char* o = op == 0 ? " + " : op == 1 ? " - " : op == 2 ? " * " : " / ";
  int prec = op <= 1 ? 1 : 2;
  std::string lt = l.prec < prec ? "(" + l.text + ")" : l.text;
  // Right operand of - and / (and of anything at its own level) needs parentheses to keep
  // the tree's meaning: a - (b + c).
  std::string rt = (r.prec < prec || (r.prec == prec && (op == 1 || op == 3 || prec == 2))) ? "(" + r.text + ")" : r.text;
  return {lt + o + rt, prec};
}

std::string py_expr(std::string s) {  // our '^' is Python's '**'
  for (size_t p; (p = s.find('^')) != std::string::npos;) s.replace(p, 1, "**");
  return s;
}

}  // namespace

Candidate gen_arith(Rng& rng, const json& diff, const std::string& lang) {
  double imp = diff.value("impossible_rate", 0.1);
  if (rng.uniform() < imp) {
    Candidate c = gen_impossible_kind(rng, "division_by_zero", lang);
    return c;
  }
  bool zh = lang == "zh";
  int digits = diff.value("digits", 0);
  if (digits <= 0) {
    // Default mix: mostly 1-6 digits, sometimes huge numbers (exact arithmetic of any size).
    static const int mix[] = {1, 2, 2, 3, 3, 4, 4, 5, 6, 8, 12, 20, 40};
    digits = mix[rng.below(sizeof mix / sizeof mix[0])];
  }
  check(digits <= 10000, "arith: digits must be <= 10000");
  std::string form = diff.value("form", std::string());
  static const std::vector<std::string> forms = {"add", "sub", "mul", "div", "qr", "pow", "expr", "expr"};
  if (form.empty()) form = pick(rng, forms);
  int steps = 1;
  Candidate c;
  c.lang = lang;
  std::string expr;
  if (form == "add" || form == "sub" || form == "mul" || form == "div") {
    std::string a = random_digits(rng, 1 + (int)rng.below(digits)), b = random_digits(rng, digits);
    if (rng.below(2)) std::swap(a, b);
    const char* o = form == "add" ? " + " : form == "sub" ? " - " : form == "mul" ? " * " : " / ";
    expr = a + o + b;
  } else if (form == "qr") {
    std::string a = random_digits(rng, digits + 1 + (int)rng.below(3));
    std::string b = random_digits(rng, 1 + (int)rng.below(std::max(1, digits)));
    mpz_class az(a, 10), bz(b, 10), q, r;
    mpz_fdiv_qr(q.get_mpz_t(), r.get_mpz_t(), az.get_mpz_t(), bz.get_mpz_t());
    c.key = "arith-qr:" + a + ":" + b;
    c.question = zh ? (rng.below(2) ? a + " 除以 " + b + " 的商和余数各是多少？请按“商 余 余数”的格式作答。"
                                    : "求 " + a + " ÷ " + b + " 的商和余数（格式：商 余 余数）。")
                    : (rng.below(2) ? "What are the quotient and remainder when " + a + " is divided by " + b +
                                          "? Answer as 'Q remainder R'."
                                    : "Divide " + a + " by " + b + " using integer division. Give the quotient and remainder as 'Q remainder R'.");
    c.truth = {{"kind", "qr"}, {"quotient", q.get_str()}, {"remainder", r.get_str()}, {"dividend", a}, {"divisor", b}};
    c.difficulty = {{"digits", digits}, {"steps", 1}, {"form", form}};
    c.reference = std::string(zh ? "答案：" : "Answer: ") + q.get_str() + (zh ? " 余 " : " remainder ") + r.get_str();
    return c;
  } else if (form == "pow") {
    int bd = std::max(1, std::min(digits, 4));
    std::string b = random_digits(rng, 1 + (int)rng.below(bd));
    int e = 2 + (int)rng.below(std::max(2, digits * 2));
    expr = b + "^" + std::to_string(e);
  } else if (form == "expr") {
    steps = diff.value("steps", 0);
    if (steps <= 0) steps = 2 + (int)rng.below(3);
    check(steps <= 64, "arith: steps must be <= 64");
    expr = build(rng, steps, std::min(digits, 8), true).text;
  } else {
    throw Error("arith: unknown form '" + form + "' (add, sub, mul, div, qr, pow, expr)");
  }
  mpq_class v;
  try {
    v = exact::eval(expr);
  } catch (const exact::DivisionByZero&) {
    return gen_impossible_kind(rng, "division_by_zero", lang);
  }
  c.key = "arith:" + expr;
  bool frac = v.get_den() != 1;
  static const std::vector<std::string> en = {"What is {}?", "Compute {}.", "Calculate the exact value of {}.",
                                              "Evaluate {}.", "{} = ?"};
  static const std::vector<std::string> zhs = {"计算 {}。", "{} 等于多少？", "求 {} 的精确值。", "{} = ？"};
  std::string tpl = pick(rng, zh ? zhs : en);
  std::string q = tpl.replace(tpl.find("{}"), 2, expr);
  if (frac || form == "div")
    q += zh ? "（给出精确值：最简分数或有限小数）" : " Give the exact value (a fraction in lowest terms or an exact decimal).";
  c.question = q;
  c.truth = {{"kind", "exact"}, {"value", exact::to_string(v)}, {"expr", py_expr(expr)}};
  c.difficulty = {{"digits", digits}, {"steps", steps}, {"form", form}};
  c.reference = std::string(zh ? "答案：" : "Answer: ") + exact::to_string(v);
  return c;
}

}  // namespace veritas::suites
