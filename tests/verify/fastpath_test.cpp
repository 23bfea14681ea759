// The verifiers' fast paths (64-bit fractions, integers compared as text, to_chars
// rendering) checked against GMP, which computes every value here independently from the
// parts the test wrote, and against printf for the rendering.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "veritas/util/error.hpp"
#include "veritas/verify/answer.hpp"
#include "veritas/verify/exact.hpp"
#include "veritas/verify/suites.hpp"
#include "veritas/verify/task.hpp"

using namespace veritas;

namespace {

std::string digits(std::mt19937_64& rng, int n, bool lead_zero_ok = false) {
  std::string s;
  for (int i = 0; i < n; i++) s.push_back(char('0' + (i == 0 && !lead_zero_ok ? 1 + rng() % 9 : rng() % 10)));
  return s;
}

mpq_class pow10q(int e) {
  mpz_class p;
  mpz_ui_pow_ui(p.get_mpz_t(), 10, (unsigned long)std::abs(e));
  return e >= 0 ? mpq_class(p) : mpq_class(mpz_class(1), p);
}

// One written number and its value computed by GMP from the parts.
struct Case {
  std::string text;
  mpq_class value;
};

Case random_case(std::mt19937_64& rng) {
  bool neg = rng() % 3 == 0;
  std::string whole = digits(rng, 1 + rng() % 24);
  mpq_class v(mpz_class(whole, 10));
  std::string text = whole;
  switch (rng() % 4) {
    case 0: break;  // integer
    case 1: {       // decimal
      std::string f = digits(rng, 1 + rng() % 22, true);
      v += mpq_class(mpz_class(f, 10)) * pow10q(-(int)f.size());
      text += "." + f;
      break;
    }
    case 2: {  // exponent
      int e = int(rng() % 51) - 25;
      v *= pow10q(e);
      text += "e" + std::to_string(e);
      break;
    }
    case 3: {  // fraction
      std::string d = digits(rng, 1 + rng() % 22);
      v /= mpq_class(mpz_class(d, 10));
      text += "/" + d;
      break;
    }
  }
  v.canonicalize();
  if (neg) {
    v = -v;
    text = "-" + text;
  }
  return {text, v};
}

}  // namespace

TEST(FastPath, NumbersMatchGmpOnRandomAndBoundaryInputs) {
  std::mt19937_64 rng(7);
  std::vector<Case> cases;
  for (int i = 0; i < 20000; i++) cases.push_back(random_case(rng));
  // Around the 64-bit limits, where the fast path must hand over to GMP.
  for (const char* s : {"9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
                        "99999999999999999999", "1000000000000000000", "10000000000000000000"}) {
    cases.push_back({s, mpq_class(mpz_class(s, 10))});
    cases.push_back({std::string("-") + s, -mpq_class(mpz_class(s, 10))});
    cases.push_back({std::string("1/") + s, mpq_class(mpz_class(1), mpz_class(s, 10))});
  }
  cases.push_back({"922337203685477580.7", mpq_class(mpz_class("9223372036854775807", 10), mpz_class(10))});
  cases.push_back({"922337203685477580.8", mpq_class(mpz_class("4611686018427387904", 10), mpz_class(5))});
  cases.push_back({"9.223372036854775807e18", mpq_class(mpz_class("9223372036854775807", 10))});
  cases.push_back({"9.223372036854775808e18", mpq_class(mpz_class("9223372036854775808", 10))});
  cases.push_back({"1e-19", mpq_class(mpz_class(1), mpz_class("10000000000000000000", 10))});
  cases.push_back({"1e-18", mpq_class(mpz_class(1), mpz_class("1000000000000000000", 10))});
  cases.push_back({"0.1e-18", mpq_class(mpz_class(1), mpz_class("10000000000000000000", 10))});
  cases.push_back({"1,234,567,890,123,456,789", mpq_class(mpz_class("1234567890123456789", 10))});
  cases.push_back({"12,345,678,901,234,567,890", mpq_class(mpz_class("12345678901234567890", 10))});
  int small = 0, big = 0;
  for (auto& c : cases) {
    c.value.canonicalize();
    auto n = exact::parse_number_fast(c.text);
    ASSERT_TRUE(n) << c.text;
    EXPECT_EQ(n->to_mpq(), c.value) << c.text;
    EXPECT_EQ(n->str(), c.value.get_str()) << c.text;
    EXPECT_EQ(n->to_double(), c.value.get_d()) << c.text;  // bit for bit, truncated as GMP does
    EXPECT_TRUE(*n == exact::read_stored(c.value.get_str())) << c.text;
    (n->big ? big : small)++;
  }
  EXPECT_GT(small, 5000);  // both paths were exercised
  EXPECT_GT(big, 5000);
  // The 64-bit form is used exactly up to INT64_MAX.
  EXPECT_FALSE(exact::parse_number_fast("9223372036854775807")->big);
  EXPECT_TRUE(exact::parse_number_fast("9223372036854775808")->big);
  EXPECT_FALSE(exact::parse_number_fast("-9223372036854775807")->big);
  EXPECT_TRUE(exact::parse_number_fast("922337203685477580.8")->big);  // 9223372036854775808/10 on the way
}

TEST(FastPath, DoubleConversionTruncatesLikeGmp) {
  // Round-to-nearest division differs from GMP's truncation in the last bit for about
  // half of these: 1/3, 2/3, ...; both sides of 2^53 are covered.
  std::mt19937_64 rng(11);
  for (int i = 0; i < 200000; i++) {
    int64_t num = (int64_t)(rng() >> (rng() % 64)) * (rng() % 2 ? 1 : -1);
    int64_t den = (int64_t)(rng() >> (1 + rng() % 63));
    if (den == 0) den = 1;
    if (num == INT64_MIN) num = INT64_MAX;
    exact::Number n;
    n.num = num;
    n.den = den;
    mpq_class q;
    mpq_set_si(q.get_mpq_t(), num, (unsigned long)den);
    q.canonicalize();
    ASSERT_EQ(n.to_double(), q.get_d()) << num << "/" << den;
    ASSERT_EQ(n.str(), q.get_str()) << num << "/" << den;
  }
}

TEST(FastPath, EqualityAcrossFormsAndNearTheLimits) {
  auto num = [](int64_t p, int64_t q) {
    exact::Number n;
    n.num = p;
    n.den = q;
    return n;
  };
  auto big = [](const char* s) {
    exact::Number n;
    n.big = mpq_class(s, 10);
    n.big->canonicalize();
    return n;
  };
  EXPECT_TRUE(num(1, 2) == big("1/2"));
  EXPECT_TRUE(num(-50, 100) == big("-1/2"));
  EXPECT_FALSE(num(1, 2) == big("-1/2"));
  // Cross products past 2^64 (they are done in 128 bits).
  EXPECT_TRUE(num(INT64_MAX, INT64_MAX - 1) == num(INT64_MAX, INT64_MAX - 1));
  EXPECT_FALSE(num(INT64_MAX, INT64_MAX - 1) == num(INT64_MAX - 1, INT64_MAX - 2));
  EXPECT_TRUE(num(-INT64_MAX, 3) == big("-9223372036854775807/3"));
  EXPECT_TRUE(num(0, 7) == num(0, 1));
}

TEST(FastPath, IntegerTextIsCanonical) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 5000; i++) {
    // Leading zeros, signs, thousands groups, any length.
    std::string d = std::string(rng() % 3, '0') + digits(rng, 1 + rng() % 60);
    std::string text = (rng() % 2 ? "-" : "") + d;
    if (rng() % 4 == 0 && d.size() <= 3) text += ",123,456";
    std::string buf;
    auto t = exact::integer_text(text, &buf);
    auto ref = exact::parse_number(text);
    ASSERT_TRUE(ref) << text;
    ASSERT_TRUE(t) << text;
    EXPECT_EQ(*t, exact::to_string(*ref)) << text;
    EXPECT_TRUE(exact::is_integer_text(*t)) << text;
  }
  std::string buf;
  auto text = [&](const char* s) { return exact::integer_text(s, &buf); };
  EXPECT_EQ(*text("-0"), "0");
  EXPECT_EQ(*text("-120"), "-120");
  EXPECT_EQ(*text("007"), "7");
  EXPECT_EQ(*text(" 0,000 "), "0");
  EXPECT_EQ(*text("− 1,234"), "-1234");  // a space after the sign, as read_number allows
  EXPECT_FALSE(text("1 234"));
  EXPECT_FALSE(text("1.5"));
  EXPECT_FALSE(text("1e3"));
  EXPECT_FALSE(text("3/4"));
  EXPECT_FALSE(text("12 apples"));
  EXPECT_FALSE(exact::is_integer_text("007"));
  EXPECT_FALSE(exact::is_integer_text("-0"));
  EXPECT_FALSE(exact::is_integer_text("1/2"));
  EXPECT_FALSE(exact::is_integer_text(""));
  EXPECT_TRUE(exact::is_integer_text("0"));
  EXPECT_TRUE(exact::is_integer_text("-120"));
}

TEST(FastPath, StoredValues) {
  EXPECT_EQ(exact::read_stored("2/4").str(), "1/2");
  EXPECT_EQ(exact::read_stored("-007").str(), "-7");
  EXPECT_EQ(exact::read_stored("-9223372036854775808").str(), "-9223372036854775808");
  EXPECT_TRUE(exact::read_stored("-9223372036854775808").big);
  EXPECT_EQ(exact::read_stored("12 34").str(), "1234");  // GMP skips spaces
  EXPECT_THROW(exact::read_stored("12/0"), Error);       // an error, not a crash
  EXPECT_THROW(exact::read_stored("abc"), Error);
  EXPECT_THROW(exact::read_stored(""), Error);
}

TEST(FastPath, ExactVerdictsMatchGmp) {
  // Truths and answers of every size and form; the verdict must be what comparing the
  // GMP values gives, and the reason must name the canonical values.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20000; i++) {
    Case truth = random_case(rng), answer = rng() % 2 ? truth : random_case(rng);
    if (rng() % 3 == 0) {  // the same value written another way
      answer.text = truth.value.get_str();
      if (truth.value.get_den() == 1 && rng() % 2) answer.text += ".000";
    }
    Task t;
    t.id = "t";
    t.truth = {{"kind", "exact"}, {"value", truth.value.get_str()}};
    Score s = verify(t, "Answer: " + answer.text);
    auto ref = exact::parse_number(answer.text);
    ASSERT_TRUE(ref) << answer.text;
    bool same = *ref == truth.value;
    ASSERT_EQ(s.verdict, same ? Verdict::Correct : Verdict::Wrong) << answer.text << " vs " << truth.value.get_str();
    std::string want = same ? "equals " + truth.value.get_str()
                            : "got " + ref->get_str() + ", expected " + truth.value.get_str();
    ASSERT_EQ(s.reason, want);
  }
}

TEST(FastPath, QuotientRemainderNearTheLimits) {
  Task t;
  t.id = "t";
  t.truth = {{"kind", "qr"}, {"quotient", "9223372036854775808"}, {"remainder", "9223372036854775807"}};
  EXPECT_EQ(verify(t, "Answer: 9223372036854775808 remainder 9223372036854775807").verdict, Verdict::Correct);
  EXPECT_EQ(verify(t, "Answer: 9223372036854775807 remainder 9223372036854775807").verdict, Verdict::Wrong);
  EXPECT_EQ(verify(t, "Answer: 9,223,372,036,854,775,808 R 9223372036854775807.0").verdict, Verdict::Correct);
}

TEST(FastPath, FmtDoubleMatchesPrintf) {
  auto printf_g = [](double x, int sig) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", sig, x);
    std::string s = buf;
    size_t e = s.find('e');
    if (e == std::string::npos) return s;
    return s.substr(0, e) + "e" + std::to_string(std::atoi(s.c_str() + e + 1));
  };
  std::mt19937_64 rng(9);
  std::vector<double> xs = {0.0, -0.0, 1.0, -1.5, 1e21, 1e-7, 123456.5, 0.1, 999999.5, 9.9999995, 1e300, 5e-324,
                            INFINITY, -INFINITY, NAN};
  for (int i = 0; i < 20000; i++) {
    uint64_t bits = rng();
    double x;
    std::memcpy(&x, &bits, sizeof x);
    xs.push_back(x);
    xs.push_back(double(int64_t(rng() % 2000000) - 1000000) / double(1 + rng() % 1000));
  }
  for (double x : xs)
    for (int sig : {3, 4, 6, 8}) ASSERT_EQ(suites::fmt_double(x, sig), printf_g(x, sig)) << x;
  EXPECT_EQ(suites::fmt_double(1.0 / 3, 80), printf_g(1.0 / 3, 80));  // past the buffer: truncated as before
}

TEST(FastPath, AnswerLinesAndConfidence) {
  EXPECT_EQ(parse_answer("work\r\nAnswer: 5\r\nConfidence: 0.5\r\n\r\n").value, "5");
  EXPECT_DOUBLE_EQ(*parse_answer("Answer: 5\nConfidence: +0.5").confidence, 0.5);   // strtod's forms
  EXPECT_DOUBLE_EQ(*parse_answer("Answer: 5\nConfidence: 0x1p-1").confidence, 0.5);
  EXPECT_DOUBLE_EQ(*parse_answer("Answer: 5\nConfidence: 50%").confidence, 0.5);
  EXPECT_DOUBLE_EQ(*parse_answer("Answer: 5\nConfidence: 1e-400").confidence, 0.0);
  EXPECT_EQ(parse_answer("Answer: 5\nConfidence: nan").kind, ParsedAnswer::Kind::Malformed);
  EXPECT_EQ(parse_answer("Answer: 5\nConfidence: 0.5 0.6").kind, ParsedAnswer::Kind::Malformed);
  EXPECT_EQ(parse_answer("\n\nConfidence: 0.5\n\n").kind, ParsedAnswer::Kind::Malformed);
  EXPECT_EQ(parse_answer("Answer: +5").kind, ParsedAnswer::Kind::Value);
  EXPECT_EQ(parse_answer("Answer: -1, cannot be determined").kind, ParsedAnswer::Kind::Value);  // a leading number
  EXPECT_EQ(parse_answer("Answer: ５ cannot be determined").kind, ParsedAnswer::Kind::Value);   // full-width digit
  EXPECT_EQ(parse_answer("Answer:\n5").kind, ParsedAnswer::Kind::Malformed);
  // Long texts: the ASCII run check must still find a bad byte anywhere.
  std::string longtext(1000, 'x');
  EXPECT_EQ(parse_answer(longtext + "\nAnswer: 5").kind, ParsedAnswer::Kind::Value);
  for (size_t at : {0ul, 7ul, 8ul, 500ul, 999ul}) {
    std::string bad = longtext;
    bad[at] = '\xC0';
    EXPECT_EQ(parse_answer(bad + "\nAnswer: 5").kind, ParsedAnswer::Kind::Malformed) << at;
  }
}
