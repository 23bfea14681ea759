#include "veritas/serve/domains.hpp"

#include <cctype>
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>
#include <unordered_map>
#include <vector>

#include "veritas/verify/exact.hpp"
#include "veritas/verify/units.hpp"

namespace veritas::serve {

using nlohmann::json;

namespace {

// Folds the full-width punctuation Chinese text uses (，？：；（）。) to ASCII and collapses
// white space, keeping case (unit symbols are case-sensitive: MW, mW).
std::string fold(const std::string& s) {
  static const std::pair<const char*, const char*> kFold[] = {
      {"，", ","}, {"？", "?"}, {"：", ":"}, {"；", ";"}, {"（", "("}, {"）", ")"}, {"。", "."}, {"！", "!"}, {"　", " "},
      {"＝", "="}, {"＋", "+"}, {"－", "-"}, {"−", "-"}};
  std::string out;
  bool space = false;
  for (size_t i = 0; i < s.size();) {
    bool folded = false;
    for (auto [from, to] : kFold) {
      size_t n = std::strlen(from);
      if (s.compare(i, n, from) == 0) {
        if (*to == ' ') space = true;
        else {
          if (space && !out.empty()) out += ' ';
          space = false;
          out += to;
        }
        i += n;
        folded = true;
        break;
      }
    }
    if (folded) continue;
    if (std::isspace((unsigned char)s[i])) {
      space = true;
    } else {
      if (space && !out.empty()) out += ' ';
      space = false;
      out += s[i];
    }
    ++i;
  }
  return out;
}

// Drops a trailing precision request ("Give 4 significant figures.", "（保留 4 位有效数字）",
// "Give exact values.") and trailing punctuation and spaces.
std::string strip_tail(std::string s) {
  static const std::regex kTail(
      R"(\s*(?:(?:please )?(?:give|to|with|answer to|round to) (?:\d+ significant (?:figures|digits)|exact values)\.?|\((?:保留 ?\d+ ?位有效数字|给出精确值)\))\s*$)",
      std::regex::icase);
  for (bool again = true; again;) {
    again = false;
    std::string t = std::regex_replace(s, kTail, "");
    if (t != s) { s = t; again = true; }
    while (!s.empty() && std::strchr(" .?!", s.back())) { s.pop_back(); again = true; }
  }
  return s;
}

bool is_chinese(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0xE4 && c <= 0xE9) return true;  // lead bytes of CJK ideographs U+4E00..U+9FFF
  return false;
}

Task make_task(const std::string& suite, const std::string& question, json truth) {
  Task t;
  t.id = "serve-question";
  t.suite = suite;
  t.split = "test";
  t.lang = is_chinese(question) ? "zh" : "en";
  t.question = question;
  t.truth = std::move(truth);
  return t;
}

json impossible(const std::string& why, const std::string& explain) {
  return {{"kind", "impossible"}, {"why", why}, {"explain", explain}};
}

// ---- algebra ---------------------------------------------------------------------------

bool var_at(const std::string& s, size_t i) {
  if (s[i] == 0 || !std::strchr("xyzw", s[i])) return false;
  bool left = i > 0 && std::isalpha((unsigned char)s[i - 1]);
  bool right = i + 1 < s.size() && std::isalpha((unsigned char)s[i + 1]);
  return !left && !right;
}

bool eq_byte(const std::string& s, size_t i) {
  char c = s[i];
  return c != 0 && (std::isdigit((unsigned char)c) || std::strchr(" +-*/^().", c) || var_at(s, i));
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '.')) s.pop_back();
  size_t a = s.find_first_not_of(' ');
  return a == std::string::npos ? "" : s.substr(a);
}

// "3x - 2(y + 1)" -> "3*x - 2*(y + 1)": the evaluator needs the products spelled out.
std::string spell_products(const std::string& s) {
  std::string out;
  char prev = 0;  // last non-space byte
  for (char c : s) {
    if (c != ' ' && prev && (std::isdigit((unsigned char)prev) || prev == ')' || std::strchr("xyzw", prev)) &&
        (std::strchr("xyzw", c) || c == '('))
      out += '*';
    out += c;
    if (c != ' ') prev = c;
  }
  return out;
}

std::string substitute(const std::string& e, const std::map<char, mpq_class>& v) {
  std::string out;
  for (char c : e) {
    auto it = v.find(c);
    if (it != v.end()) out += "(" + exact::to_string(it->second) + ")";
    else out += c;
  }
  return out;
}

}  // namespace

std::optional<Task> recognise_algebra(const std::string& question) {
  std::string s = fold(question);
  if (s.size() > 4000) return std::nullopt;
  std::vector<std::string> eqs;  // in the evaluator's syntax
  std::string vars;
  size_t assignments = 0;
  for (size_t p = 0; (p = s.find('=', p)) != std::string::npos; ++p) {
    if ((p > 0 && std::strchr("=<>!", s[p - 1])) || (p + 1 < s.size() && s[p + 1] == '=')) return std::nullopt;
    size_t a = p, b = p + 1;
    while (a > 0 && eq_byte(s, a - 1)) --a;
    while (b < s.size() && eq_byte(s, b)) ++b;
    std::string l = trim(s.substr(a, p - a)), r = trim(s.substr(p + 1, b - p - 1));
    if (l.empty() || r.empty()) return std::nullopt;
    // "x = 5" states a value; only equations with something to solve make a question.
    if (l.size() == 1 && exact::parse_number(r)) ++assignments;
    std::string e = spell_products(l) + " = " + spell_products(r);
    for (char c : e)
      if (std::strchr("xyzw", c) && vars.find(c) == std::string::npos) vars += c;
    eqs.push_back(e);
  }
  if (eqs.empty() || vars.empty() || eqs.size() > 8 || assignments == eqs.size()) return std::nullopt;
  std::sort(vars.begin(), vars.end(), [](char x, char y) { return std::strchr("xyzw", x) < std::strchr("xyzw", y); });
  size_t n = vars.size(), m = eqs.size();
  // Each equation as lhs - rhs = c0 + sum a_i v_i, read off by evaluating at points and
  // checked at two more: anything not linear is not an algebra-suite question.
  auto f = [&](const std::string& e, const std::map<char, mpq_class>& at) -> mpq_class {
    size_t p = e.find('=');
    return exact::eval(substitute(e.substr(0, p), at)) - exact::eval(substitute(e.substr(p + 1), at));
  };
  std::vector<std::vector<mpq_class>> A(m, std::vector<mpq_class>(n + 1));
  try {
    for (size_t r = 0; r < m; ++r) {
      std::map<char, mpq_class> zero;
      for (char v : vars) zero[v] = 0;
      mpq_class c0 = f(eqs[r], zero);
      for (size_t i = 0; i < n; ++i) {
        auto at = zero;
        at[vars[i]] = 1;
        A[r][i] = f(eqs[r], at) - c0;
      }
      A[r][n] = -c0;
      for (int probe = 0; probe < 2; ++probe) {
        std::map<char, mpq_class> at;
        mpq_class want = c0;
        for (size_t i = 0; i < n; ++i) {
          at[vars[i]] = probe ? mpq_class(mpz_class(-3 + 7 * (long)i), mpz_class(2)) : mpq_class(mpz_class(2 + 3 * (long)i));
          at[vars[i]].canonicalize();
          want += A[r][i] * at[vars[i]];
        }
        if (f(eqs[r], at) != want) return std::nullopt;
      }
    }
  } catch (const std::exception&) {
    return std::nullopt;  // not an expression in x, y, z, w (or divides by one)
  }
  // Gauss-Jordan elimination over the rationals, with the ranks of A and [A|b].
  size_t rank = 0;
  std::vector<size_t> pivot_col;
  for (size_t c = 0; c < n && rank < m; ++c) {
    size_t p = rank;
    while (p < m && A[p][c] == 0) ++p;
    if (p == m) continue;
    std::swap(A[p], A[rank]);
    for (size_t r = 0; r < m; ++r) {
      if (r == rank || A[r][c] == 0) continue;
      mpq_class k = A[r][c] / A[rank][c];
      for (size_t j = c; j <= n; ++j) A[r][j] -= k * A[rank][j];
    }
    pivot_col.push_back(c);
    ++rank;
  }
  for (size_t r = rank; r < m; ++r)
    if (A[r][n] != 0)
      return make_task("algebra", question, impossible("contradictory", "the equations contradict each other: no solution"));
  if (rank < n)
    return make_task("algebra", question, impossible("underdetermined", "infinitely many solutions: the value is not determined"));
  json sol = json::object();
  std::string ref;
  std::vector<std::string> names;
  for (size_t r = 0; r < n; ++r) {
    mpq_class v = A[r][n] / A[r][pivot_col[r]];
    v.canonicalize();
    std::string name(1, vars[pivot_col[r]]);
    sol[name] = exact::to_string(v);
  }
  for (char v : vars) {
    names.emplace_back(1, v);
    ref += (ref.empty() ? "" : ", ") + names.back() + " = " + sol[names.back()].get<std::string>();
  }
  Task t = make_task("algebra", question, {{"kind", "solution"}, {"vars", names}, {"equations", eqs}, {"solution", sol}});
  t.reference = std::string(t.lang == "zh" ? "答案：" : "Answer: ") + ref;
  return t;
}

// ---- integer division ---------------------------------------------------------------

std::optional<Task> recognise_quotient(const std::string& question) {
  std::string s = fold(question);
  if (s.size() > 4000) return std::nullopt;
  static const std::regex asks(R"(quotient.*remainder|remainder.*quotient|integer division|商和余数|商 ?余 ?余数)", std::regex::icase);
  static const std::vector<std::regex> forms = {
      std::regex(R"((\d+) (?:is )?divided by (\d+))", std::regex::icase), std::regex(R"(divide (\d+) by (\d+))", std::regex::icase),
      std::regex("(\\d+) ?(?:÷|/|除以) ?(\\d+)")};
  if (!std::regex_search(s, asks)) return std::nullopt;
  for (const auto& re : forms) {
    std::smatch m;
    if (!std::regex_search(s, m, re)) continue;
    mpz_class a(m[1].str(), 10), b(m[2].str(), 10), q, r;
    if (b == 0)
      return make_task("impossible", question, impossible("division_by_zero", "division by zero"));
    mpz_fdiv_qr(q.get_mpz_t(), r.get_mpz_t(), a.get_mpz_t(), b.get_mpz_t());
    Task t = make_task("arith", question, {{"kind", "qr"}, {"quotient", q.get_str()}, {"remainder", r.get_str()},
                                           {"dividend", m[1].str()}, {"divisor", m[2].str()}});
    t.reference = t.lang == "zh" ? "答案：" + q.get_str() + " 余 " + r.get_str() : "Answer: " + q.get_str() + " remainder " + r.get_str();
    return t;
  }
  return std::nullopt;
}

// ---- units -----------------------------------------------------------------------------

std::optional<Task> recognise_units(const std::string& question) {
  std::string s = strip_tail(fold(question));
  if (s.size() > 1000) return std::nullopt;
  // (pattern, index of the quantities group, index of the target unit group or 0)
  struct Form { std::regex re; int q, to; };
  static const std::vector<Form> forms = [] {
    auto re = [](const char* p) { return std::regex(p, std::regex::icase); };
    return std::vector<Form>{
        {re(R"(^(?:please )?convert (.+?) (?:to|into) (.+)$)"), 1, 2},
        {re(R"(^how many (.+?) (?:is|are there in|are in|are|in|make) (.+)$)"), 2, 1},
        {re(R"(^(?:what is|what's|express) (.+?),? (?:expressed |when expressed |converted )?in (.+)$)"), 1, 2},
        {re("^把 ?(.+?) ?(?:换算成|转换成|换算为|转换为|化成) ?(.+)$"), 1, 2},
        {re("^(.+?) ?(?:等于|是)多少 ?(.+)$"), 1, 2},
        {re("^计算 ?(.+?) ?, ?(?:用|以) ?(.+?) ?表示$"), 1, 2},
        {re(R"(^(?:what is|what's|compute|calculate|add) (.+)$)"), 1, 0},
        {re("^计算 ?(.+)$"), 1, 0},
    };
  }();
  for (const Form& f : forms) {
    std::smatch m;
    if (!std::regex_match(s, m, f.re)) continue;
    std::string qs = m[f.q].str(), to = f.to ? trim(m[f.to].str()) : "";
    // The quantities: "<number> <unit>" terms joined by '+'.
    std::vector<units::Quantity> terms;
    std::vector<bool> absolute;
    bool ok = true;
    size_t st = 0;
    for (size_t i = 0; i <= qs.size() && ok; ++i) {
      if (i < qs.size() && !(qs[i] == '+' && i > 0 && qs[i - 1] != 'e' && qs[i - 1] != 'E')) continue;
      std::string term = trim(qs.substr(st, i - st));
      st = i + 1;
      // A quantity starts with a number and has a unit.
      size_t used = 0;
      if (term.empty() || !exact::read_number(term, &used) || used >= term.size()) { ok = false; break; }
      try {
        terms.push_back(units::parse_quantity(term));
        absolute.push_back(units::parse_unit(trim(term.substr(used))).absolute_temperature);
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok || terms.empty()) continue;
    bool mixed = false;
    for (const auto& t : terms) mixed |= !units::same_dim(t.dim, terms[0].dim);
    if (mixed)
      return make_task("units", question,
                       impossible("dimension_mismatch", "quantities of different dimensions cannot be added"));
    if (!f.to) continue;  // a sum of like quantities with no unit asked for: no single answer to check
    units::ParsedUnit target;
    try {
      target = units::parse_unit(to);
    } catch (const std::exception&) {
      continue;
    }
    if (to.empty()) continue;
    if (!units::same_dim(target.dim, terms[0].dim))
      return make_task("units", question, impossible("dimension_mismatch", "the units measure different dimensions"));
    if (terms.size() > 1 && std::count(absolute.begin(), absolute.end(), true)) continue;  // sums of temperatures
    double si = 0;
    for (const auto& t : terms) si += t.value;
    json dim = json::array();
    for (int i = 0; i < 7; i++) dim.push_back((int)terms[0].dim[i]);
    Task t = make_task("units", question, {{"kind", "quantity"}, {"value", si}, {"dim", dim}, {"unit", to}, {"rel_tol", 1e-3}});
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", units::from_si(si, to));
    t.reference = std::string(t.lang == "zh" ? "答案：" : "Answer: ") + buf + " " + to;
    return t;
  }
  return std::nullopt;
}

// ---- physics ---------------------------------------------------------------------------

namespace {

// The numbers of a text and its shape: the text with each number replaced by '#'. A
// number starts where no letter, digit, '^' or '.' precedes it ("m/s^2" and "m1" hold
// none).
std::string shape_of(const std::string& folded, std::vector<std::string>* numbers) {
  std::string out;
  const std::string& s = folded;
  for (size_t i = 0; i < s.size();) {
    unsigned char prev = i ? (unsigned char)s[i - 1] : ' ';
    bool start = !std::isalnum(prev) && prev != '^' && prev != '.' && prev != '_' &&
                 (std::isdigit((unsigned char)s[i]) ||
                  (s[i] == '-' && i + 1 < s.size() && std::isdigit((unsigned char)s[i + 1])));
    if (!start) {
      out += (char)std::tolower((unsigned char)s[i]);
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < s.size() && std::isdigit((unsigned char)s[j])) ++j;
    if (j + 1 < s.size() && s[j] == '.' && std::isdigit((unsigned char)s[j + 1]))
      for (++j; j < s.size() && std::isdigit((unsigned char)s[j]);) ++j;
    if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
      size_t k = j + 1;
      if (k < s.size() && (s[k] == '-' || s[k] == '+')) ++k;
      if (k < s.size() && std::isdigit((unsigned char)s[k])) {
        while (k < s.size() && std::isdigit((unsigned char)s[k])) ++k;
        j = k;
      }
    }
    numbers->push_back(s.substr(i, j - i));
    out += "# ";
    i = j;
  }
  // One space between words, whatever the spacing around numbers was.
  std::string c;
  for (char ch : out)
    if (!(ch == ' ' && (c.empty() || c.back() == ' '))) c += ch;
  while (!c.empty() && c.back() == ' ') c.pop_back();
  return c;
}

struct Shape {
  std::string formula;  // the suite's formula, given values as {k}: the k-th number of the question
  json truth;
};

// Replaces the given values in a formula — "(<number> " or "(<number>)" — by {k}, k the
// index of the same number in the question. Empty when a value is not found exactly once.
std::string templatise(const std::string& formula, const std::vector<std::string>& nums) {
  std::string out;
  for (size_t i = 0; i < formula.size();) {
    if (formula[i] != '(' || i + 1 >= formula.size()) { out += formula[i++]; continue; }
    size_t j = formula.find_first_of(" )", i + 1);
    if (j == std::string::npos) return "";
    std::string num = formula.substr(i + 1, j - i - 1);
    if (num.empty() || !(std::isdigit((unsigned char)num[0]) || num[0] == '-')) { out += formula[i++]; continue; }
    int found = -1, count = 0;
    for (size_t k = 0; k < nums.size(); ++k)
      if (nums[k] == num) { found = (int)k; ++count; }
    if (count != 1) return "";
    out += "({" + std::to_string(found) + "}";
    i = j;
  }
  return out;
}

const std::unordered_map<std::string, Shape>& physics_index() {
  static std::unordered_map<std::string, Shape> index;
  static std::once_flag once;
  std::call_once(once, [] {
    for (const char* split : {"train", "dev", "test"})
      for (const char* lang : {"en", "zh"}) {
        SuiteOptions o;
        o.suite = "physics";
        o.n = std::string(split) == "train" ? 1600 : 200;  // about 2,000 draws each: every shape, many times
        o.seed = 7;
        o.split = split;
        o.difficulty = {{"lang", lang}};
        try {
          for (Task& t : generate_tasks(o)) {
            if (t.truth.value("kind", "") != "quantity") continue;
            std::vector<std::string> nums;
            std::string key = shape_of(strip_tail(fold(t.question)), &nums);
            if (index.count(key)) continue;
            std::string f = templatise(t.truth.at("formula").get<std::string>(), nums);
            if (!f.empty()) index.emplace(key, Shape{f, t.truth});
          }
        } catch (const std::exception&) {
          // a language the suite does not take: the other one still counts
        }
      }
  });
  return index;
}

}  // namespace

std::optional<Task> recognise_physics(const std::string& question) {
  if (question.size() > 2000) return std::nullopt;
  std::vector<std::string> nums;
  std::string key = shape_of(strip_tail(fold(question)), &nums);
  const auto& index = physics_index();
  auto it = index.find(key);
  if (it == index.end()) return std::nullopt;
  const Shape& sh = it->second;
  std::string formula;
  for (size_t i = 0; i < sh.formula.size(); ++i) {
    if (sh.formula[i] == '{') {
      size_t j = sh.formula.find('}', i);
      size_t k = std::stoul(sh.formula.substr(i + 1, j - i - 1));
      if (k >= nums.size()) return std::nullopt;
      formula += nums[k];
      i = j;
    } else {
      formula += sh.formula[i];
    }
  }
  json truth = sh.truth;
  try {
    units::Quantity q = units::eval(formula);
    truth["value"] = q.value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  truth["formula"] = formula;
  Task t = make_task("physics", question, truth);
  char buf[64];
  std::string unit = truth.at("unit").get<std::string>();
  std::snprintf(buf, sizeof buf, "%.6g", units::from_si(truth["value"].get<double>(), unit));
  t.reference = std::string(t.lang == "zh" ? "答案：" : "Answer: ") + buf + " " + unit;
  return t;
}

}  // namespace veritas::serve
