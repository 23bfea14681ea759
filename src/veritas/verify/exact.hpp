#pragma once
// Exact rational arithmetic on GMP rationals: an expression evaluator (the truth for the
// arith suite) and the tolerant number reader used by the answer protocol.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <gmpxx.h>

#include "veritas/util/error.hpp"

namespace veritas::exact {

// Raised when an expression divides by zero (the question has no answer).
struct DivisionByZero : Error {
  using Error::Error;
};

// Evaluates an exact expression. Grammar (usual precedence, '^' right-associative):
//   expr  := term (('+' | '-') term)*
//   term  := unary (('*' | '×' | '/' | '÷' | '//' | '%') unary)*
//   unary := ('-' | '+' | '−') unary | power
//   power := atom (('^' | '**') unary)?
//   atom  := integer | decimal | '(' expr ')'
// '//' is floor division and '%' the matching remainder (a = b*(a//b) + a%b, as in
// Python). Powers need an integer exponent of at most 100000 in magnitude.
// Throws Error naming the offset on a syntax error, DivisionByZero on x/0.
mpq_class eval(std::string_view expr);

// A number read from an answer: a 64-bit fraction num/den (den > 0, not necessarily in
// lowest terms) when every step of reading it fits in 64 bits, the common case, checked
// without touching GMP; otherwise `big` holds the exact value. Both forms give the same
// results, so callers need not care which one they got.
struct Number {
  int64_t num = 0, den = 1;
  std::optional<mpq_class> big;

  mpq_class to_mpq() const;  // canonical
  double to_double() const;  // rounded toward zero, as mpq_get_d
  std::string str() const;   // as to_string(to_mpq())
};
bool operator==(const Number& a, const Number& b);

// The reader behind read_number and parse_number, without converting to mpq_class.
std::optional<Number> read_number_fast(std::string_view s, size_t* consumed);
std::optional<Number> parse_number_fast(std::string_view s);

// When s (surrounding spaces allowed) is one whole number written as an integer (sign and
// thousands separators allowed; no fraction, exponent or denominator), its canonical
// text as to_string writes it ("-1234567", "0"), for any number of digits and without
// GMP; nullopt otherwise (then parse_number decides). The view is of s itself when s is
// written that way already, else of *buf.
std::optional<std::string_view> integer_text(std::string_view s, std::string* buf);
// Whether s is already in that canonical form: "0" or an optional '-' and digits with no
// leading zero.
bool is_integer_text(std::string_view s);

// Reads "p" or "p/q" as mpq_class(s, 10) reads it, canonical; throws Error on anything
// else or on a zero denominator. For exact values stored in task files.
Number read_stored(const std::string& s);

// Reads a number written the way people write answers: optional sign (+, -, U+2212),
// thousands separators ("1,234,567"), decimals, scientific notation ("1.2e3",
// "1.2×10^3", "1.2 x 10^-3", "1.2×10⁻³"), fractions ("3/4"). Returns the exact value
// and sets *consumed to the bytes used; nullopt when no number starts at s[0].
std::optional<mpq_class> read_number(std::string_view s, size_t* consumed);

// The whole string must be one number (surrounding spaces allowed).
std::optional<mpq_class> parse_number(std::string_view s);

// "p" for integers, "p/q" otherwise (lowest terms).
std::string to_string(const mpq_class& q);
// Decimal rendering, exact when the denominator divides a power of ten, otherwise
// rounded to `digits` significant digits.
std::string to_decimal(const mpq_class& q, int digits = 12);

mpq_class floor_div(const mpq_class& a, const mpq_class& b);  // floor(a/b) as a rational
mpq_class pow_int(const mpq_class& base, long exp);           // throws DivisionByZero on 0^-n

}  // namespace veritas::exact
