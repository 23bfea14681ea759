#include "veritas/verify/exact.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

namespace veritas::exact {

namespace {

bool starts(std::string_view s, size_t i, std::string_view t) { return s.substr(i, t.size()) == t; }

// Unicode superscript digits and minus, as written in "10⁻³".
int superscript_digit(std::string_view s, size_t i, size_t* len) {
  if (i >= s.size() || (unsigned char)s[i] < 0x80) return -1;  // all of them are multi-byte
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

bool is_digit(char c) { return c >= '0' && c <= '9'; }

size_t count_digits(std::string_view s, size_t i) {
  size_t j = i;
  while (j < s.size() && is_digit(s[j])) j++;
  return j - i;
}

long small_value(std::string_view digits) {  // at most 5 digits
  long v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

// Reads an exponent suffix starting at i ("e-3", "×10^3", " x 10⁻³"); returns bytes used.
size_t read_exponent(std::string_view s, size_t i, long* exp) {
  size_t j = i;
  if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
    j++;
    bool neg = false;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) neg = s[j++] == '-';
    else if (starts(s, j, "−")) { neg = true; j += 3; }
    size_t n = count_digits(s, j);
    if (!n || n > 5) return 0;
    *exp = small_value(s.substr(j, n)) * (neg ? -1 : 1);
    return j + n - i;
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
  long v = 0;
  size_t nd = 0;
  if (j < s.size() && s[j] == '^') {
    j++;
    if (j < s.size() && s[j] == '(') j++;  // 10^(-3)
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) neg = s[j++] == '-';
    else if (starts(s, j, "−")) { neg = true; j += 3; }
    nd = count_digits(s, j);
    if (nd <= 5) v = small_value(s.substr(j, nd));
    j += nd;
    if (j < s.size() && s[j] == ')') j++;
  } else {
    if (starts(s, j, "⁻")) { neg = true; j += 3; }
    else if (starts(s, j, "⁺")) j += 3;
    size_t len;
    int dg;
    while ((dg = superscript_digit(s, j, &len)) >= 0) {
      if (++nd <= 5) v = v * 10 + dg;
      j += len;
    }
  }
  if (nd == 0 || nd > 5) return 0;
  *exp = v * (neg ? -1 : 1);
  return j - i;
}

// A number as written, found without allocating: its digit runs are views of the input
// (`whole` keeps any thousands separators; they are skipped when it is evaluated).
struct Written {
  bool neg = false;
  std::string_view whole, frac, den;  // den: "3/4", only without fraction or exponent
  bool has_exp = false;
  long exp = 0;
};

std::optional<Written> scan_number(std::string_view s, size_t* consumed) {
  Written w;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) w.neg = s[i++] == '-';
  else if (starts(s, i, "−")) { w.neg = true; i += 3; }
  while (i < s.size() && s[i] == ' ') i++;  // "- 5"
  size_t start = i, first = count_digits(s, i);
  i += first;
  // Thousands separators: ',' (or a thin / narrow no-break space) before exactly 3 digits,
  // valid only when the first group had 1-3 digits.
  if (first > 0 && first <= 3) {
    for (;;) {
      size_t sep = 0;
      if (i < s.size() && s[i] == ',') sep = 1;
      else if (starts(s, i, "\u2009") || starts(s, i, "\u202f")) sep = 3;
      if (!sep || count_digits(s, i + sep) != 3) break;
      i += sep + 3;
    }
  }
  w.whole = s.substr(start, i - start);
  // "5." : a trailing dot is punctuation, not part of the number.
  if (i < s.size() && s[i] == '.' && count_digits(s, i + 1) > 0) {
    w.frac = s.substr(i + 1, count_digits(s, i + 1));
    i += 1 + w.frac.size();
  }
  if (first == 0 && w.frac.empty()) return std::nullopt;
  if (size_t el = read_exponent(s, i, &w.exp)) {
    w.has_exp = true;
    i += el;
  } else if (w.frac.empty() && i + 1 < s.size() && s[i] == '/' && is_digit(s[i + 1])) {
    w.den = s.substr(i + 1, count_digits(s, i + 1));
    i += 1 + w.den.size();
  }
  *consumed = i;
  return w;
}

std::string_view trim_spaces(std::string_view s) {
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };  // std::isspace in the C locale
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Appends the decimal digits of t (separators skipped) to *v; false on overflow.
bool accumulate(std::string_view t, uint64_t* v) {
  for (char c : t)
    if (is_digit(c) && (__builtin_mul_overflow(*v, 10u, v) || __builtin_add_overflow(*v, uint64_t(c - '0'), v)))
      return false;
  return true;
}

bool pow10_u64(long e, uint64_t* p) {  // 10^19 is the last power of ten below 2^64
  if (e < 0 || e > 19) return false;
  for (*p = 1; e > 0; e--) *p *= 10;
  return true;
}

// The value in 64 bits, or nullopt when some step does not fit.
std::optional<Number> small_number(const Written& w) {
  uint64_t num = 0, den = 1, scale;
  if (!accumulate(w.whole, &num)) return std::nullopt;
  if (!w.frac.empty()) {
    uint64_t f = 0;
    if (!pow10_u64((long)w.frac.size(), &den) || __builtin_mul_overflow(num, den, &num) || !accumulate(w.frac, &f) ||
        __builtin_add_overflow(num, f, &num))
      return std::nullopt;
  }
  if (w.has_exp) {
    uint64_t* side = w.exp >= 0 ? &num : &den;
    if (!pow10_u64(std::labs(w.exp), &scale) || __builtin_mul_overflow(*side, scale, side)) return std::nullopt;
  } else if (!w.den.empty()) {
    den = 0;
    if (!accumulate(w.den, &den)) return std::nullopt;
  }
  if (num > (uint64_t)INT64_MAX || den > (uint64_t)INT64_MAX) return std::nullopt;
  Number n;
  n.num = w.neg ? -(int64_t)num : (int64_t)num;
  n.den = (int64_t)den;
  return n;
}

mpz_class digits_of(std::string_view t) {
  std::string d;
  for (char c : t)
    if (is_digit(c)) d.push_back(c);
  return mpz_class(d.empty() ? std::string("0") : d, 10);
}

mpq_class big_number(const Written& w) {
  mpq_class v(digits_of(w.whole));
  if (!w.frac.empty()) v += mpq_class(digits_of(w.frac)) / pow10((long)w.frac.size());
  if (w.has_exp) v *= pow10(w.exp);
  else if (!w.den.empty()) v /= mpq_class(digits_of(w.den));
  v.canonicalize();
  if (w.neg) v = -v;
  return v;
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

std::optional<Number> read_number_fast(std::string_view s, size_t* consumed) {
  size_t used = 0;
  auto w = scan_number(s, &used);
  if (!w) return std::nullopt;
  if (!w->den.empty() && w->den.find_first_not_of('0') == std::string_view::npos) return std::nullopt;  // "3/0"
  auto n = small_number(*w);
  if (!n) {
    n.emplace();
    n->big = big_number(*w);
  }
  *consumed = used;
  return n;
}

std::optional<Number> parse_number_fast(std::string_view s) {
  s = trim_spaces(s);
  size_t used = 0;
  auto v = read_number_fast(s, &used);
  if (!v || used != s.size()) return std::nullopt;
  return v;
}

std::optional<std::string_view> integer_text(std::string_view s, std::string* buf) {
  s = trim_spaces(s);
  size_t used = 0;
  auto w = scan_number(s, &used);
  if (!w || used != s.size() || !w->frac.empty() || w->has_exp || !w->den.empty()) return std::nullopt;
  if (is_integer_text(s)) return s;
  buf->assign(w->neg, '-');
  for (char c : w->whole)
    if (is_digit(c) && (c != '0' || buf->size() > w->neg)) buf->push_back(c);  // no leading zeros
  if (buf->size() == w->neg) buf->assign(1, '0');  // all zeros, "-0" included
  return *buf;
}

bool is_integer_text(std::string_view s) {
  std::string_view d = s.starts_with('-') ? s.substr(1) : s;
  return !d.empty() && count_digits(d, 0) == d.size() && (d[0] != '0' || s == "0");
}

std::optional<mpq_class> read_number(std::string_view s, size_t* consumed) {
  auto n = read_number_fast(s, consumed);
  if (!n) return std::nullopt;
  return n->to_mpq();
}

std::optional<mpq_class> parse_number(std::string_view s) {
  auto n = parse_number_fast(s);
  if (!n) return std::nullopt;
  return n->to_mpq();
}

Number read_stored(const std::string& s) {
  // The canonical form "-p/q" fast; anything else (GMP also skips spaces, ...) through GMP.
  size_t i = s.size() > 0 && s[0] == '-', slash = s.find('/');
  std::string_view p = std::string_view(s).substr(i, slash == std::string::npos ? std::string::npos : slash - i);
  std::string_view q = slash == std::string::npos ? std::string_view("1") : std::string_view(s).substr(slash + 1);
  uint64_t num = 0, den = 0;
  if (!p.empty() && !q.empty() && count_digits(p, 0) == p.size() && count_digits(q, 0) == q.size() &&
      accumulate(p, &num) && accumulate(q, &den) && num <= (uint64_t)INT64_MAX && den <= (uint64_t)INT64_MAX && den) {
    Number n;
    n.num = i ? -(int64_t)num : (int64_t)num;
    n.den = (int64_t)den;
    return n;
  }
  mpq_class v;
  if (v.set_str(s, 10) != 0) throw Error("'" + s + "' is not an exact value (p or p/q)");
  if (v.get_den() == 0) throw Error("'" + s + "' has a zero denominator");
  v.canonicalize();
  Number n;
  n.big = v;
  return n;
}

mpq_class Number::to_mpq() const {
  if (big) return *big;
  mpq_class q;
  mpq_set_si(q.get_mpq_t(), num, (unsigned long)den);
  q.canonicalize();
  return q;
}

double Number::to_double() const {
  constexpr int64_t kExact = int64_t(1) << 53;  // integers up to here convert to double exactly
  if (big || num > kExact || num < -kExact || den > kExact) return to_mpq().get_d();
  // Division rounds to nearest; the residual num - q*den is exact (fma), and its sign says
  // whether q went past num/den, in which case one step back toward zero truncates.
  double q = double(num) / double(den);
  double r = std::fma(-q, double(den), double(num));
  if ((q > 0 && r < 0) || (q < 0 && r > 0)) q = std::nextafter(q, 0.0);
  return q;
}

std::string Number::str() const {
  if (big) return big->get_str();
  uint64_t mag = num < 0 ? 0 - (uint64_t)num : (uint64_t)num;
  uint64_t g = den == 1 ? 1 : std::gcd(mag, (uint64_t)den);  // den == 1: the common case, no loop
  if (g == 0) g = 1;
  char buf[48];
  char* e = buf;
  if (num < 0 && mag) *e++ = '-';
  e = std::to_chars(e, buf + sizeof buf, mag / g).ptr;
  if ((uint64_t)den / g != 1) {
    *e++ = '/';
    e = std::to_chars(e, buf + sizeof buf, (uint64_t)den / g).ptr;
  }
  return std::string(buf, e);
}

bool operator==(const Number& a, const Number& b) {
  if (a.big || b.big) return a.to_mpq() == b.to_mpq();
  return (__int128)a.num * b.den == (__int128)b.num * a.den;  // dens > 0; products fit in 128 bits
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
