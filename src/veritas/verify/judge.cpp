// Judges: compute whether a parsed answer matches a task's truth. Each truth kind
// (exact, qr, solution, quantity, text, impossible) has its own rule; see docs/verify.md.
#include <cmath>
#include <map>
#include <algorithm>
#include <cstring>

#include "veritas/util/text.hpp"
#include "veritas/verify/exact.hpp"
#include "veritas/verify/suites.hpp"
#include "veritas/verify/units.hpp"

namespace veritas::suites {

using namespace std::string_view_literals;

namespace {

Score make(Verdict v, std::string reason) {
  Score s;
  s.verdict = v;
  s.reason = std::move(reason);
  return s;
}

// "x = 5" -> "5" when a single-variable answer names its variable.
std::string_view strip_assignment(std::string_view v) {
  size_t eq = v.find('=');
  if (eq == std::string::npos) return v;
  std::string_view lhs = trim(v.substr(0, eq));
  if (lhs.size() <= 3 && !lhs.empty() && std::isalpha((unsigned char)lhs[0])) return trim(v.substr(eq + 1));
  return v;
}

// A string field of the truth, without copying it.
const std::string& text_field(const json& truth, std::string_view key) { return truth.at(key).get_ref<const std::string&>(); }

Score judge_exact(const json& truth, const std::string& value) {
  const std::string& stored = text_field(truth, "value"sv);
  std::string_view answer = strip_assignment(value);
  // Integers of any size: equal exactly when their canonical texts are.
  if (exact::is_integer_text(stored))
    if (std::string buf; auto got = exact::integer_text(answer, &buf)) {
      if (*got == stored) return make(Verdict::Correct, "equals " + stored);
      return make(Verdict::Wrong, "got " + std::string(*got) + ", expected " + stored);
    }
  exact::Number want = exact::read_stored(stored);
  auto got = exact::parse_number_fast(answer);
  if (!got) return make(Verdict::Malformed, "value '" + value + "' is not a number");
  if (*got == want) return make(Verdict::Correct, "equals " + want.str());
  return make(Verdict::Wrong, "got " + got->str() + ", expected " + want.str());
}

// "17 remainder 3", "17 r 3", "17 R3", "17 余 3", "商17余3", "17, 3"
Score judge_qr(const json& truth, const std::string& value) {
  exact::Number q = exact::read_stored(text_field(truth, "quotient"sv)), r = exact::read_stored(text_field(truth, "remainder"sv));
  std::string v = value;
  for (const char* w : {"商", "quotient", "Quotient", "q =", "q="}) {
    size_t p = v.find(w);
    if (p != std::string::npos) v.replace(p, std::strlen(w), " ");
  }
  size_t a = 0;
  std::string_view t = trim(v);
  auto qv = exact::read_number_fast(t, &a);
  if (!qv) return make(Verdict::Malformed, "no quotient in '" + value + "'");
  std::string_view rest = trim(t.substr(a));
  bool sep = false;
  for (std::string_view w : {"remainder", "Remainder", "rem", "余数", "余", "r", "R", ",", "，", ";"}) {
    if (rest.starts_with(w)) {
      rest = trim(rest.substr(w.size()));
      sep = true;
      break;
    }
  }
  if (rest.starts_with("=")) rest = trim(rest.substr(1));
  if (!sep) {
    if (rest.empty()) return make(Verdict::Malformed, "answer needs both quotient and remainder ('Q remainder R')");
    return make(Verdict::Malformed, "cannot read '" + value + "' as 'Q remainder R'");
  }
  auto rv = exact::parse_number_fast(rest);
  if (!rv) return make(Verdict::Malformed, "no remainder in '" + value + "'");
  std::string want = q.str() + " remainder " + r.str();
  if (*qv == q && *rv == r) return make(Verdict::Correct, "equals " + want);
  return make(Verdict::Wrong, "got " + qv->str() + " remainder " + rv->str() + ", expected " + want);
}

std::string substitute(const std::string& eq, const std::map<std::string, mpq_class>& vals) {
  std::string out;
  for (size_t i = 0; i < eq.size(); i++) {
    char c = eq[i];
    if (std::isalpha((unsigned char)c)) {
      std::string name(1, c);
      auto it = vals.find(name);
      if (it == vals.end()) throw Error("equation uses unknown variable '" + name + "'");
      out += "(" + exact::to_string(it->second) + ")";
    } else out.push_back(c);
  }
  return out;
}

// Checked by substitution: every equation must hold exactly with the given values.
Score judge_solution(const json& truth, const std::string& value) {
  std::vector<std::string> vars = truth.at("vars"sv).get<std::vector<std::string>>();
  std::map<std::string, mpq_class> got;
  // Split on ',', ';', '，', '；', " and ", "和".
  std::string v = value;
  for (const char* sep : {"，", "；", "和", " and ", ";"}) {
    for (size_t p; (p = v.find(sep)) != std::string::npos;) v.replace(p, std::strlen(sep), ",");
  }
  std::vector<std::string> parts;
  size_t st = 0;
  for (size_t i = 0; i <= v.size(); i++)
    if (i == v.size() || v[i] == ',') {
      // A comma followed by exactly three digits may be a thousands separator.
      auto dig = [&](size_t k) { return k < v.size() && std::isdigit((unsigned char)v[k]); };
      if (i < v.size() && i > 0 && dig(i - 1) && dig(i + 1) && dig(i + 2) && dig(i + 3) && !dig(i + 4))
        continue;
      std::string p{trim(v.substr(st, i - st))};
      if (!p.empty()) parts.push_back(p);
      st = i + 1;
    }
  if (vars.size() == 1 && parts.size() == 1 && parts[0].find('=') == std::string::npos) {
    auto x = exact::parse_number(parts[0]);
    if (!x) return make(Verdict::Malformed, "value '" + value + "' is not a number");
    got[vars[0]] = *x;
  } else {
    for (const auto& p : parts) {
      size_t eq = p.find('=');
      if (eq == std::string::npos) return make(Verdict::Malformed, "expected 'x = ...' assignments, got '" + p + "'");
      std::string name{trim(p.substr(0, eq))};
      auto x = exact::parse_number(p.substr(eq + 1));
      if (!x) return make(Verdict::Malformed, "value of '" + name + "' is not a number");
      if (std::find(vars.begin(), vars.end(), name) == vars.end())
        return make(Verdict::Malformed, "unknown variable '" + name + "'");
      got[name] = *x;
    }
  }
  for (const auto& n : vars)
    if (!got.count(n)) return make(Verdict::Malformed, "no value given for " + n);
  for (const auto& eqs : truth.at("equations"sv)) {
    std::string eq = eqs.get<std::string>();
    size_t p = eq.find('=');
    mpq_class lhs = exact::eval(substitute(eq.substr(0, p), got));
    mpq_class rhs = exact::eval(substitute(eq.substr(p + 1), got));
    if (lhs != rhs) return make(Verdict::Wrong, "does not satisfy " + eq + " (" + exact::to_string(lhs) + " ≠ " + exact::to_string(rhs) + ")");
  }
  return make(Verdict::Correct, "satisfies every equation");
}

Score judge_quantity(const json& truth, const std::string& value) {
  double want = truth.at("value"sv).get<double>();
  units::Dim dim{};
  const json& jd = truth.at("dim"sv);
  for (int i = 0; i < 7; i++) dim[i] = (int8_t)jd.at(i).get<int>();
  double tol = truth.value("rel_tol"sv, 1e-3);
  units::Quantity q;
  try {
    q = units::parse_quantity(strip_assignment(value));
  } catch (const Error& e) {
    return make(Verdict::Malformed, e.what());
  }
  static const std::string kNoUnit;
  auto ju = truth.find("unit"sv);
  const std::string& unit = ju == truth.end() ? kNoUnit : ju->get_ref<const std::string&>();
  std::string want_s = fmt_double(unit.empty() ? want : units::from_si(want, unit), 6) + (unit.empty() ? "" : " " + unit);
  if (!units::same_dim(q.dim, dim))
    return make(Verdict::Wrong, "dimension " + units::dim_string(q.dim) + ", expected " + units::dim_string(dim) + " (" + want_s + ")");
  double err = std::fabs(q.value - want) / std::max(std::fabs(want), 1e-300);
  if (want == 0) err = std::fabs(q.value);
  if (err <= tol) return make(Verdict::Correct, "within " + fmt_double(tol * 100, 3) + "% of " + want_s);
  return make(Verdict::Wrong, "off by " + fmt_double(err * 100, 3) + "% (tolerance " + fmt_double(tol * 100, 3) + "%), expected " + want_s);
}

// A dimensionless number, optionally followed by one of the accepted unit words.
Score judge_number(const json& truth, const std::string& value) {
  double want = truth.at("value"sv).get<double>();
  double tol = truth.value("rel_tol"sv, 1e-3);
  std::string_view v = trim(strip_assignment(value));
  size_t used = 0;
  auto got = exact::read_number_fast(v, &used);
  if (!got) return make(Verdict::Malformed, "value '" + value + "' is not a number");
  std::string_view rest = trim(v.substr(used));
  bool unit_ok = rest.empty();
  if (auto ok = truth.find("units_ok"sv); ok != truth.end())
    for (const auto& u : *ok)
      if (rest == u.get_ref<const std::string&>()) unit_ok = true;
  if (!unit_ok) return make(Verdict::Wrong, "unit '" + std::string(rest) + "' does not fit this quantity");
  double err = std::fabs(got->to_double() - want) / std::max(std::fabs(want), 1e-300);
  if (err <= tol) return make(Verdict::Correct, "within " + fmt_double(tol * 100, 3) + "% of " + fmt_double(want, 8));
  return make(Verdict::Wrong, "off by " + fmt_double(err * 100, 3) + "% (tolerance " + fmt_double(tol * 100, 3) + "%), expected " + fmt_double(want, 8));
}

Score judge_text(const json& truth, const std::string& value) {
  std::string v = normalize_text(value);
  for (const char* art : {"the ", "element ", "planet "})
    if (v.rfind(art, 0) == 0) v = v.substr(std::strlen(art));
  for (const auto& a : truth.at("accept"sv))
    if (normalize_text(a.get<std::string>()) == v) return make(Verdict::Correct, "matches '" + a.get<std::string>() + "'");
  return make(Verdict::Wrong, "'" + value + "' is not " + truth.at("accept"sv).at(0).get<std::string>());
}

}  // namespace

Score judge(const json& truth, const ParsedAnswer& a) {
  std::string_view kind = text_field(truth, "kind"sv);
  if (a.kind == ParsedAnswer::Kind::Malformed) return make(Verdict::Malformed, a.error);
  if (kind == "impossible") {
    std::string why = truth.value("why"sv, std::string("unanswerable"));
    if (a.kind == ParsedAnswer::Kind::DontKnow || a.kind == ParsedAnswer::Kind::CannotAnswer)
      return make(Verdict::Correct, "recognised that the question cannot be answered (" + why + ")");
    return make(Verdict::Wrong, "gave a concrete answer '" + a.value + "' to a question that cannot be answered (" + why + ")");
  }
  if (a.kind == ParsedAnswer::Kind::DontKnow) return make(Verdict::Abstained, "abstained");
  if (a.kind == ParsedAnswer::Kind::CannotAnswer)
    return make(Verdict::Wrong, "claimed the question has no answer, but it has one");
  if (kind == "exact") return judge_exact(truth, a.value);
  if (kind == "qr") return judge_qr(truth, a.value);
  if (kind == "solution") return judge_solution(truth, a.value);
  if (kind == "quantity") return judge_quantity(truth, a.value);
  if (kind == "text") return judge_text(truth, a.value);
  if (kind == "number") return judge_number(truth, a.value);
  throw Error("unknown truth kind '" + std::string(kind) + "'");
}

}  // namespace veritas::suites
