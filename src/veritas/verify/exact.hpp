#pragma once
// Exact rational arithmetic on GMP rationals: an expression evaluator (the truth for the
// arith suite) and the tolerant number reader used by the answer protocol.
#include <cstddef>
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
