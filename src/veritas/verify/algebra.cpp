// The algebra suite: linear equations and small linear systems with a unique solution,
// judged by substituting the answer into every equation with exact rationals.
#include "veritas/verify/exact.hpp"
#include "veritas/verify/suites.hpp"

namespace veritas::suites {

namespace {

const char* kVars[] = {"x", "y", "z", "w"};

// Renders sum(c_i * v_i) for display ("3x - 2y") and for evaluation ("3*x - 2*y").
std::string render(const std::vector<long>& coef, bool display) {
  std::string s;
  for (size_t i = 0; i < coef.size(); i++) {
    long c = coef[i];
    if (c == 0) continue;
    long a = c < 0 ? -c : c;
    if (s.empty()) s += c < 0 ? "-" : "";
    else s += c < 0 ? " - " : " + ";
    if (a != 1) s += std::to_string(a) + (display ? "" : "*");
    s += kVars[i];
  }
  return s.empty() ? "0" : s;
}

mpq_class det(std::vector<std::vector<mpq_class>> m) {
  size_t n = m.size();
  mpq_class d = 1;
  for (size_t c = 0; c < n; c++) {
    size_t p = c;
    while (p < n && m[p][c] == 0) p++;
    if (p == n) return 0;
    if (p != c) { std::swap(m[p], m[c]); d = -d; }
    d *= m[c][c];
    for (size_t r = c + 1; r < n; r++) {
      mpq_class f = m[r][c] / m[c][c];
      for (size_t k = c; k < n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return d;
}

}  // namespace

Candidate gen_algebra(Rng& rng, const json& diff, const std::string& lang) {
  double imp = diff.value("impossible_rate", 0.1);
  if (rng.uniform() < imp) return gen_impossible_kind(rng, rng.below(2) ? "contradictory" : "underdetermined", lang);
  bool zh = lang == "zh";
  int nv = diff.value("vars", 0);
  if (nv <= 0) nv = 1 + (int)rng.below(3);
  check(nv >= 1 && nv <= 4, "algebra: vars must be 1..4");
  int digits = diff.value("digits", 0);
  if (digits <= 0) digits = 1 + (int)rng.below(2);
  check(digits <= 12, "algebra: digits must be <= 12");
  bool rational = diff.contains("rational") ? diff["rational"].get<bool>() : rng.below(4) == 0;
  long cmax = 1;
  for (int i = 0; i < digits; i++) cmax *= 10;
  cmax -= 1;
  // The solution first, then coefficients with a non-zero determinant, then right sides.
  std::vector<mpq_class> sol(nv);
  for (auto& s : sol) {
    s = mpq_class(rng.range(-cmax, cmax));
    if (rational) s /= mpq_class(rng.range(2, 9));
    s.canonicalize();
  }
  std::vector<std::vector<long>> a;
  for (int attempt = 0;; attempt++) {
    a.assign(nv, std::vector<long>(nv));
    std::vector<std::vector<mpq_class>> m(nv, std::vector<mpq_class>(nv));
    for (int r = 0; r < nv; r++)
      for (int c = 0; c < nv; c++) {
        long v = rng.range(-cmax, cmax);
        if (nv == 1 && v == 0) v = 1 + (long)rng.below(cmax);
        a[r][c] = v;
        m[r][c] = v;
      }
    if (det(m) != 0) break;
    check(attempt < 1000, "algebra: cannot draw a non-singular system");
  }
  std::vector<std::string> eqs, shown;
  for (int r = 0; r < nv; r++) {
    mpq_class rhs = 0;
    for (int c = 0; c < nv; c++) rhs += a[r][c] * sol[c];
    // One-variable equations sometimes get a constant on the left: 3x + 7 = 22.
    long k = (nv == 1 && rng.below(2)) ? rng.range(1, cmax) : 0;
    std::string ks = k ? " + " + std::to_string(k) : "";
    eqs.push_back(render(a[r], false) + ks + " = " + exact::to_string(rhs + k));
    shown.push_back(render(a[r], true) + ks + " = " + exact::to_string(rhs + k));
  }
  Candidate c;
  c.lang = lang;
  std::string joined;
  for (const auto& e : eqs) joined += e + ";";
  c.key = "algebra:" + joined;
  std::vector<std::string> vars(kVars, kVars + nv);
  std::string vlist;
  for (int i = 0; i < nv; i++) vlist += (i ? (i + 1 == nv ? (zh ? " 和 " : " and ") : ", ") : "") + vars[i];
  std::string sys;
  for (size_t i = 0; i < shown.size(); i++) sys += (i ? (zh ? "，" : ", ") : "") + shown[i];
  if (nv == 1)
    c.question = zh ? (rng.below(2) ? "解方程 " + sys + "，求 x。" : "求满足 " + sys + " 的 x。")
                    : (rng.below(2) ? "Solve " + sys + " for x." : "Find x if " + sys + ".");
  else
    c.question = zh ? "解方程组：" + sys + "。求 " + vlist + "。" : "Solve the system " + sys + " for " + vlist + ".";
  if (rational) c.question += zh ? "（给出精确值）" : " Give exact values.";
  c.truth = {{"kind", "solution"}, {"vars", vars}, {"equations", eqs}};
  json sj = json::object();
  std::string ref;
  for (int i = 0; i < nv; i++) {
    sj[vars[i]] = exact::to_string(sol[i]);
    ref += (i ? ", " : "") + vars[i] + " = " + exact::to_string(sol[i]);
  }
  c.truth["solution"] = sj;
  c.difficulty = {{"vars", nv}, {"digits", digits}, {"rational", rational}};
  c.reference = std::string(zh ? "答案：" : "Answer: ") + ref;
  return c;
}


}  // namespace veritas::suites
