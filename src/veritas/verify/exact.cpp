#include "veritas/verify/exact.hpp"

#include <cctype>
#include <cstring>

namespace veritas::exact {

namespace {

bool starts(std::string_view s, size_t i, std::string_view t) { return s.substr(i, t.size()) == t; }

// Unicode superscript digits and minus, as written in "10⁻³".
int superscript_digit(std::string_view s, size_t i, size_t* len) {
  static const char* sup[10] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  for (int d = 0; d < 10; d++) {
    size_t n = std::strlen(sup[d]);
    if (starts(s, i, sup[d])) { *len = n; return d; }
  }
  return -1;
}

mpq_class pow10(long e) { return pow_int(mpq_class(10), e); }

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}
  mpq_class parse() {
    mpq_class v = expr();
    skip();
    if (i_ != s_.size()) fail("unexpected '" + std::string(s_.substr(i_, 1)) + "'");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw Error("expression: " + what + " at offset " + std::to_string(i_) + " in '" + std::string(s_) + "'");
  }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) i_++;
  }
  bool eat(std::string_view t) {
    skip();
    if (starts(s_, i_, t)) { i_ += t.size(); return true; }
    return false;
  }
  mpq_class expr() {
    if (++depth_ > 200) fail("nesting too deep");
    mpq_class v = term();
    for (;;) {
      if (eat("+")) v += term();
      else if (eat("-") || eat("−")) v -= term();
      else break;
    }
    depth_--;
    return v;
  }
  mpq_class term() {
    mpq_class v = unary();
    for (;;) {
      if (eat("**")) fail("misplaced '**'");
      if (eat("*") || eat("×") || eat("·")) v *= unary();
      else if (eat("//")) {
        mpq_class d = unary();
        if (d == 0) throw DivisionByZero("division by zero at offset " + std::to_string(i_));
        v = floor_div(v, d);
      } else if (eat("/") || eat("÷")) {
        mpq_class d = unary();
        if (d == 0) throw DivisionByZero("division by zero at offset " + std::to_string(i_));
        v /= d;
      } else if (eat("%")) {
        mpq_class d = unary();
        if (d == 0) throw DivisionByZero("modulo by zero at offset " + std::to_string(i_));
        v = v - d * floor_div(v, d);
      } else break;
    }
    return v;
  }
  mpq_class unary() {
    // Bounded like the nesting of parentheses: "------5" must not exhaust the stack.
    if (++depth_ > 200) fail("too many signs");
    mpq_class v;
    if (eat("-") || eat("−")) v = -unary();
    else if (eat("+")) v = unary();
    else v = power();
    depth_--;
    return v;
  }
  mpq_class power() {
    mpq_class base = atom();
    if (eat("**") || eat("^")) {
      mpq_class e = unary();  // right-associative: 2^3^2 = 2^9
      if (e.get_den() != 1) fail("non-integer exponent");
      if (abs(e) > 100000) fail("exponent too large");
      return pow_int(base, e.get_num().get_si());
    }
    return base;
  }
  mpq_class atom() {
    skip();
    if (eat("(")) {
      mpq_class v = expr();
      if (!eat(")")) fail("missing ')'");
      return v;
    }
    size_t start = i_;
    while (i_ < s_.size() && std::isdigit((unsigned char)s_[i_])) i_++;
    if (i_ == start) fail(i_ < s_.size() ? "expected a number" : "unexpected end");
    mpz_class ip(std::string(s_.substr(start, i_ - start)), 10);
    mpq_class v(ip);
    if (i_ + 1 < s_.size() && s_[i_] == '.' && std::isdigit((unsigned char)s_[i_ + 1])) {
      size_t fs = ++i_;
      while (i_ < s_.size() && std::isdigit((unsigned char)s_[i_])) i_++;
      mpz_class frac(std::string(s_.substr(fs, i_ - fs)), 10);
      v += mpq_class(frac) / pow10((long)(i_ - fs));
    }
    v.canonicalize();
    return v;
  }
  std::string_view s_;
  size_t i_ = 0;
  int depth_ = 0;
};

size_t read_digits(std::string_view s, size_t i, std::string* out) {
  size_t j = i;
  while (j < s.size() && std::isdigit((unsigned char)s[j])) out->push_back(s[j++]);
  return j - i;
}

// Reads an exponent suffix starting at i ("e-3", "×10^3", " x 10⁻³"); returns bytes used.
size_t read_exponent(std::string_view s, size_t i, long* exp) {
  size_t j = i;
  if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
    j++;
    bool neg = false;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) neg = s[j++] == '-';
    else if (starts(s, j, "−")) { neg = true; j += 3; }
    std::string d;
    if (!read_digits(s, j, &d) || d.size() > 5) return 0;
    j += d.size();
    *exp = std::stol(d) * (neg ? -1 : 1);
    return j - i;
  }
  // Optional spaces, a times sign, optional spaces, "10", then ^n or superscripts.
  while (j < s.size() && s[j] == ' ') j++;
  size_t tl = 0;
  if (starts(s, j, "×")) tl = 2;
  else if (starts(s, j, "·")) tl = 2;
  else if (starts(s, j, "⋅")) tl = 3;
  else if (j < s.size() && (s[j] == 'x' || s[j] == 'X' || s[j] == '*')) tl = 1;
  if (!tl) return 0;
  j += tl;
  while (j < s.size() && s[j] == ' ') j++;
  if (!starts(s, j, "10")) return 0;
  j += 2;
  bool neg = false;
  std::string d;
  if (j < s.size() && s[j] == '^') {
    j++;
    if (j < s.size() && s[j] == '(') j++;  // 10^(-3)
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) neg = s[j++] == '-';
    else if (starts(s, j, "−")) { neg = true; j += 3; }
    j += read_digits(s, j, &d);
    if (j < s.size() && s[j] == ')') j++;
  } else {
    if (starts(s, j, "⁻")) { neg = true; j += 3; }
    else if (starts(s, j, "⁺")) j += 3;
    size_t len;
    int dg;
    while ((dg = superscript_digit(s, j, &len)) >= 0) { d.push_back(char('0' + dg)); j += len; }
  }
  if (d.empty() || d.size() > 5) return 0;
  *exp = std::stol(d) * (neg ? -1 : 1);
  return j - i;
}

}  // namespace

mpq_class eval(std::string_view expr) { return Parser(expr).parse(); }

mpq_class floor_div(const mpq_class& a, const mpq_class& b) {
  if (b == 0) throw DivisionByZero("division by zero");
  mpq_class q = a / b;
  mpz_class f;
  mpz_fdiv_q(f.get_mpz_t(), q.get_num_mpz_t(), q.get_den_mpz_t());
  return mpq_class(f);
}

mpq_class pow_int(const mpq_class& base, long exp) {
  if (exp < 0 && base == 0) throw DivisionByZero("zero to a negative power");
  unsigned long e = exp < 0 ? (unsigned long)(-exp) : (unsigned long)exp;
  mpz_class n, d;
  mpz_pow_ui(n.get_mpz_t(), base.get_num_mpz_t(), e);
  mpz_pow_ui(d.get_mpz_t(), base.get_den_mpz_t(), e);
  mpq_class r = exp < 0 ? mpq_class(d, n) : mpq_class(n, d);
  r.canonicalize();
  return r;
}

std::optional<mpq_class> read_number(std::string_view s, size_t* consumed) {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  else if (starts(s, i, "−")) { neg = true; i += 3; }
  while (i < s.size() && s[i] == ' ') i++;  // "- 5"
  std::string digits;
  size_t first = read_digits(s, i, &digits);
  bool had_int = first > 0;
  i += first;
  // Thousands separators: ',' (or a thin / narrow no-break space) before exactly 3 digits,
  // valid only when the first group had 1-3 digits.
  if (had_int && first <= 3) {
    for (;;) {
      size_t sep = 0;
      if (i < s.size() && s[i] == ',') sep = 1;
      else if (starts(s, i, "\u2009") || starts(s, i, "\u202f")) sep = 3;
      if (!sep) break;
      std::string g;
      size_t n = read_digits(s, i + sep, &g);
      if (n != 3) break;
      digits += g;
      i += sep + 3;
    }
  }
  std::string frac;
  if (i < s.size() && s[i] == '.') {
    size_t n = read_digits(s, i + 1, &frac);
    if (n > 0) i += 1 + n;
    else if (had_int && (i + 1 >= s.size() || !std::isdigit((unsigned char)s[i + 1]))) {
      // "5." : a trailing dot is punctuation, not part of the number
    }
  }
  if (!had_int && frac.empty()) return std::nullopt;
  mpq_class v(mpz_class(digits.empty() ? std::string("0") : digits, 10));
  if (!frac.empty()) v += mpq_class(mpz_class(frac, 10)) / pow10((long)frac.size());
  long e = 0;
  size_t el = read_exponent(s, i, &e);
  if (el) {
    v *= pow10(e);
    i += el;
  } else if (frac.empty() && i + 1 < s.size() && s[i] == '/' && std::isdigit((unsigned char)s[i + 1])) {
    std::string den;
    size_t n = read_digits(s, i + 1, &den);
    mpz_class dz(den, 10);
    if (dz == 0) return std::nullopt;  // "3/0" is not a number
    v /= mpq_class(dz);
    i += 1 + n;
  }
  v.canonicalize();
  if (neg) v = -v;
  *consumed = i;
  return v;
}

std::optional<mpq_class> parse_number(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace((unsigned char)s[b])) b++;
  while (e > b && std::isspace((unsigned char)s[e - 1])) e--;
  size_t used = 0;
  auto v = read_number(s.substr(b, e - b), &used);
  if (!v || used != e - b) return std::nullopt;
  return v;
}

std::string to_string(const mpq_class& q) { return q.get_str(); }

std::string to_decimal(const mpq_class& q, int digits) {
  // Exact when the reduced denominator is 2^a 5^b.
  mpz_class d = q.get_den();
  int twos = 0, fives = 0;
  while (mpz_divisible_ui_p(d.get_mpz_t(), 2)) { d /= 2; twos++; }
  while (mpz_divisible_ui_p(d.get_mpz_t(), 5)) { d /= 5; fives++; }
  if (d == 1) {
    int k = std::max(twos, fives);
    mpq_class s = q * pow10(k);
    mpz_class n = s.get_num();  // integer now
    bool neg = n < 0;
    if (neg) n = -n;
    std::string t = n.get_str();
    if (k > 0) {
      if ((int)t.size() <= k) t = std::string(k - t.size() + 1, '0') + t;
      t.insert(t.size() - k, ".");
    }
    return neg ? "-" + t : t;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, q.get_d());
  return buf;
}

}  // namespace veritas::exact
