#include <gtest/gtest.h>

#include <set>

#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/verify/answer.hpp"
#include "veritas/verify/exact.hpp"
#include "veritas/verify/facts.hpp"
#include "veritas/verify/task.hpp"
#include "veritas/verify/units.hpp"

using namespace veritas;

namespace {

std::string q(const mpq_class& v) { return exact::to_string(v); }

Task make_task(const nlohmann::json& truth) {
  Task t;
  t.id = "t";
  t.suite = "x";
  t.question = "?";
  t.truth = truth;
  return t;
}

Verdict V(const nlohmann::json& truth, const std::string& answer) { return verify(make_task(truth), answer).verdict; }

}  // namespace

TEST(Exact, PrecedenceAndAssociativity) {
  EXPECT_EQ(q(exact::eval("2 + 3 * 4")), "14");
  EXPECT_EQ(q(exact::eval("(2 + 3) * 4")), "20");
  EXPECT_EQ(q(exact::eval("2^3^2")), "512");
  EXPECT_EQ(q(exact::eval("-2^2")), "-4");
  EXPECT_EQ(q(exact::eval("10 - 4 - 3")), "3");
  EXPECT_EQ(q(exact::eval("1/3 + 1/6")), "1/2");
  EXPECT_EQ(q(exact::eval("2^-2")), "1/4");
  EXPECT_EQ(q(exact::eval("1.25 * 4")), "5");
}

TEST(Exact, FloorDivisionMatchesPython) {
  EXPECT_EQ(q(exact::eval("17 // 5")), "3");
  EXPECT_EQ(q(exact::eval("17 % 5")), "2");
  EXPECT_EQ(q(exact::eval("-17 // 5")), "-4");  // Python: -17 // 5 == -4
  EXPECT_EQ(q(exact::eval("-17 % 5")), "3");    // Python: -17 % 5 == 3
  EXPECT_EQ(q(exact::eval("17 % -5")), "-3");
}

TEST(Exact, HugeNumbers) {
  mpq_class v = exact::eval("2^200 - 1");
  EXPECT_EQ(q(v), "1606938044258990275541962092341162602522202993782792835301375");
  EXPECT_EQ(q(exact::eval("123456789012345678901234567890 * 987654321098765432109876543210")),
            "121932631137021795226185032733622923332237463801111263526900");
}

TEST(Exact, ErrorsAreClear) {
  EXPECT_THROW(exact::eval("5 / (3 - 3)"), exact::DivisionByZero);
  EXPECT_THROW(exact::eval("5 % 0"), exact::DivisionByZero);
  EXPECT_THROW(exact::eval("0^-1"), exact::DivisionByZero);
  try {
    exact::eval("2 + * 3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("offset"), std::string::npos);
  }
  EXPECT_THROW(exact::eval("(1 + 2"), Error);
  EXPECT_THROW(exact::eval("2^0.5"), Error);
  EXPECT_THROW(exact::eval("2^1000000"), Error);
  EXPECT_THROW(exact::eval(std::string(5000, '(')), Error);  // deep nesting: an error, not a stack overflow
}

TEST(Exact, TolerantNumbers) {
  auto n = [](const char* s) {
    auto v = exact::parse_number(s);
    return v ? q(*v) : std::string("none");
  };
  EXPECT_EQ(n("1,234,567"), "1234567");
  EXPECT_EQ(n("1.2e3"), "1200");
  EXPECT_EQ(n("1.2E-3"), "3/2500");
  EXPECT_EQ(n("1.2×10^3"), "1200");
  EXPECT_EQ(n("1.2 x 10^-3"), "3/2500");
  EXPECT_EQ(n("1.2×10⁻³"), "3/2500");
  EXPECT_EQ(n("−42"), "-42");
  EXPECT_EQ(n("-3/4"), "-3/4");
  EXPECT_EQ(n(" 0.75 "), "3/4");
  EXPECT_EQ(n("12,34"), "none");  // not a thousands group
  EXPECT_EQ(n("abc"), "none");
  EXPECT_EQ(n("3/0"), "none");
}

TEST(Answer, StrictFinalLine) {
  auto a = parse_answer("Let me think.\n12 + 30 = 42\nAnswer: 42");
  EXPECT_EQ(a.kind, ParsedAnswer::Kind::Value);
  EXPECT_EQ(a.value, "42");
  EXPECT_EQ(parse_answer("The answer is 42.").kind, ParsedAnswer::Kind::Malformed);
  EXPECT_EQ(parse_answer("Answer: 42\nbut maybe 43").kind, ParsedAnswer::Kind::Malformed);
  EXPECT_EQ(parse_answer("").kind, ParsedAnswer::Kind::Malformed);
  EXPECT_EQ(parse_answer("Answer:   ").kind, ParsedAnswer::Kind::Malformed);
  EXPECT_EQ(parse_answer("Answer: 42\n\n").value, "42");
  EXPECT_EQ(parse_answer("answer: 42.").value, "42");
  EXPECT_EQ(parse_answer(std::string("Answer: \xff")).kind, ParsedAnswer::Kind::Malformed);
}

TEST(Answer, ConfidenceAndAbstention) {
  auto a = parse_answer("Answer: 7\nConfidence: 0.8");
  EXPECT_EQ(a.kind, ParsedAnswer::Kind::Value);
  ASSERT_TRUE(a.confidence);
  EXPECT_DOUBLE_EQ(*a.confidence, 0.8);
  EXPECT_EQ(parse_answer("Answer: 7\nConfidence: 1.5").kind, ParsedAnswer::Kind::Malformed);
  EXPECT_EQ(parse_answer("Answer: 7\nConfidence: high").kind, ParsedAnswer::Kind::Malformed);
  EXPECT_EQ(parse_answer("Confidence: 0.5").kind, ParsedAnswer::Kind::Malformed);
  EXPECT_EQ(parse_answer("Answer: I don't know").kind, ParsedAnswer::Kind::DontKnow);
  EXPECT_EQ(parse_answer("Answer: I don’t know.").kind, ParsedAnswer::Kind::DontKnow);
  EXPECT_EQ(parse_answer("答案：不知道").kind, ParsedAnswer::Kind::DontKnow);
  EXPECT_EQ(parse_answer("答案：我不知道\n置信度：0.1").kind, ParsedAnswer::Kind::DontKnow);
  EXPECT_EQ(parse_answer("答案: 42").value, "42");
  EXPECT_EQ(parse_answer("Answer: cannot be determined").kind, ParsedAnswer::Kind::CannotAnswer);
  EXPECT_EQ(parse_answer("Answer: undefined (division by zero)").kind, ParsedAnswer::Kind::CannotAnswer);
  EXPECT_EQ(parse_answer("答案：无解").kind, ParsedAnswer::Kind::CannotAnswer);
}

TEST(Units, Spellings) {
  auto same = [](const char* a, const char* b) {
    auto x = units::parse_unit(a), y = units::parse_unit(b);
    return units::same_dim(x.dim, y.dim) && std::fabs(x.factor - y.factor) <= 1e-12 * std::fabs(y.factor);
  };
  EXPECT_TRUE(same("m/s", "m s^-1"));
  EXPECT_TRUE(same("m/s", "meters per second"));
  EXPECT_TRUE(same("m/s", "米/秒"));
  EXPECT_TRUE(same("m/s", "米每秒"));
  EXPECT_TRUE(same("m/s", "m·s⁻¹"));
  EXPECT_TRUE(same("km/h", "kilometres per hour"));
  EXPECT_TRUE(same("km/h", "千米每小时"));
  EXPECT_TRUE(same("m/s^2", "meters per second squared"));
  EXPECT_TRUE(same("J", "kg m^2 s^-2"));
  EXPECT_TRUE(same("J", "N m"));
  EXPECT_THROW(units::parse_unit("3.6 MJ"), Error);  // numbers are not units
  EXPECT_TRUE(same("W", "J/s"));
  EXPECT_TRUE(same("V", "W/A"));
  EXPECT_TRUE(same("ohm", "V/A"));
  EXPECT_TRUE(same("m^2", "square meters"));
  EXPECT_TRUE(same("m^2", "平方米"));
  EXPECT_TRUE(same("J/(mol K)", "J/mol K"));  // juxtaposition binds tighter than '/', as in GNU units
  EXPECT_TRUE(same("mm", "millimeter"));
  EXPECT_FALSE(same("mm", "Mm"));
  EXPECT_THROW(units::parse_unit("furlongs per fortnight"), Error);
  EXPECT_THROW(units::parse_unit("°C m"), Error);
}

TEST(Units, FormulasAndDimensions) {
  auto k = units::eval("0.5 * (2 kg) * (3 m/s)^2");
  EXPECT_NEAR(k.value, 9, 1e-12);
  EXPECT_TRUE(units::same_dim(k.dim, units::parse_unit("J").dim));
  EXPECT_NEAR(units::eval("(36 km/hr)").value, 10, 1e-12);
  EXPECT_NEAR(units::eval("1 mile").value, 1609.344, 1e-9);
  EXPECT_THROW(units::eval("3 m + 2 s"), units::DimensionMismatch);
  auto t = units::parse_quantity("25 °C");
  EXPECT_NEAR(t.value, 298.15, 1e-9);
  EXPECT_NEAR(units::parse_quantity("212 °F").value, 373.15, 1e-9);
  EXPECT_NEAR(units::parse_quantity("1.2×10^3 m").value, 1200, 1e-9);
}

TEST(Verify, ExactAndQr) {
  nlohmann::json t = {{"kind", "exact"}, {"value", "3/4"}};
  EXPECT_EQ(V(t, "Answer: 3/4"), Verdict::Correct);
  EXPECT_EQ(V(t, "Answer: 0.75"), Verdict::Correct);
  EXPECT_EQ(V(t, "Answer: 6/8"), Verdict::Correct);
  EXPECT_EQ(V(t, "Answer: 0.7500001"), Verdict::Wrong);
  EXPECT_EQ(V(t, "Answer: I don't know"), Verdict::Abstained);
  EXPECT_EQ(V(t, "Answer: three quarters"), Verdict::Malformed);
  EXPECT_EQ(V(t, "It is 3/4."), Verdict::Malformed);
  EXPECT_EQ(V(t, "Answer: no solution"), Verdict::Wrong);
  nlohmann::json big = {{"kind", "exact"}, {"value", "1234567"}};
  EXPECT_EQ(V(big, "Answer: 1,234,567"), Verdict::Correct);
  nlohmann::json qr = {{"kind", "qr"}, {"quotient", "17"}, {"remainder", "3"}};
  EXPECT_EQ(V(qr, "Answer: 17 remainder 3"), Verdict::Correct);
  EXPECT_EQ(V(qr, "Answer: 17 R 3"), Verdict::Correct);
  EXPECT_EQ(V(qr, "答案：17 余 3"), Verdict::Correct);
  EXPECT_EQ(V(qr, "Answer: 17 remainder 4"), Verdict::Wrong);
  EXPECT_EQ(V(qr, "Answer: 17"), Verdict::Malformed);
}

TEST(Verify, SolutionBySubstitution) {
  nlohmann::json t = {{"kind", "solution"}, {"vars", {"x", "y"}}, {"equations", {"2*x + 3*y = 7", "x - y = 1"}}};
  EXPECT_EQ(V(t, "Answer: x = 2, y = 1"), Verdict::Correct);
  EXPECT_EQ(V(t, "Answer: y = 1; x = 2"), Verdict::Correct);
  EXPECT_EQ(V(t, "答案：x = 2，y = 1"), Verdict::Correct);
  EXPECT_EQ(V(t, "Answer: x = 1, y = 1"), Verdict::Wrong);
  EXPECT_EQ(V(t, "Answer: x = 2"), Verdict::Malformed);
  nlohmann::json one = {{"kind", "solution"}, {"vars", {"x"}}, {"equations", {"3*x + 1 = 2"}}};
  EXPECT_EQ(V(one, "Answer: 1/3"), Verdict::Correct);
  EXPECT_EQ(V(one, "Answer: x = 1/3"), Verdict::Correct);
  EXPECT_EQ(V(one, "Answer: 0.333"), Verdict::Wrong);
}

TEST(Verify, QuantityNeedsRightDimension) {
  nlohmann::json t = {{"kind", "quantity"}, {"value", 10.0}, {"dim", {1, 0, -1, 0, 0, 0, 0}}, {"unit", "m/s"}, {"rel_tol", 0.01}};
  EXPECT_EQ(V(t, "Answer: 10 m/s"), Verdict::Correct);
  EXPECT_EQ(V(t, "Answer: 36 km/h"), Verdict::Correct);
  EXPECT_EQ(V(t, "Answer: 36 kilometers per hour"), Verdict::Correct);
  EXPECT_EQ(V(t, "答案：10 米/秒"), Verdict::Correct);
  EXPECT_EQ(V(t, "Answer: 10 m"), Verdict::Wrong);       // right number, wrong unit
  EXPECT_EQ(V(t, "Answer: 10"), Verdict::Wrong);         // a bare number is not a speed
  EXPECT_EQ(V(t, "Answer: 11 m/s"), Verdict::Wrong);
  EXPECT_EQ(V(t, "Answer: 10 blargs"), Verdict::Malformed);
}

TEST(Verify, TextNumberAndImpossible) {
  nlohmann::json t = {{"kind", "text"}, {"accept", {"iron", "铁", "Fe"}}};
  EXPECT_EQ(V(t, "Answer: Iron"), Verdict::Correct);
  EXPECT_EQ(V(t, "Answer: Fe"), Verdict::Correct);
  EXPECT_EQ(V(t, "答案：铁"), Verdict::Correct);
  EXPECT_EQ(V(t, "Answer: copper"), Verdict::Wrong);
  nlohmann::json w = {{"kind", "number"}, {"value", 55.845}, {"rel_tol", 2e-3}, {"units_ok", {"", "u", "g/mol"}}};
  EXPECT_EQ(V(w, "Answer: 55.85"), Verdict::Correct);
  EXPECT_EQ(V(w, "Answer: 55.85 g/mol"), Verdict::Correct);
  EXPECT_EQ(V(w, "Answer: 55.85 kg"), Verdict::Wrong);
  EXPECT_EQ(V(w, "Answer: 56.5"), Verdict::Wrong);
  nlohmann::json imp = {{"kind", "impossible"}, {"why", "division_by_zero"}};
  EXPECT_EQ(V(imp, "Answer: I don't know"), Verdict::Correct);
  EXPECT_EQ(V(imp, "Answer: undefined"), Verdict::Correct);
  EXPECT_EQ(V(imp, "答案：无法回答"), Verdict::Correct);
  EXPECT_EQ(V(imp, "Answer: 0"), Verdict::Wrong);
  EXPECT_EQ(V(imp, "Answer: infinity"), Verdict::Wrong);
  EXPECT_EQ(V(imp, "no final line"), Verdict::Malformed);
}

TEST(Facts, TablesLoadWithSources) {
  const auto& f = facts();
  ASSERT_EQ(f.elements.size(), 118u);
  EXPECT_EQ(f.elements[25].symbol, "Fe");
  EXPECT_NEAR(*f.elements[25].atomic_weight, 55.845, 1e-9);
  EXPECT_EQ(f.elements[25].group, 8);
  EXPECT_EQ(f.planets.size(), 8u);
  for (const auto& e : f.elements) EXPECT_FALSE(e.source.empty());
  for (const auto& c : f.constants) EXPECT_FALSE(c.source.empty());
}

TEST(Facts, BadTableNamesFileAndLine) {
  auto dir = fs::temp_directory_path() / "veritas-facts-bad";
  fs::create_directories(dir);
  for (const char* n : {"planets.tsv", "constants.tsv"}) fs::copy_file(facts().dir + "/" + n, dir / n, fs::copy_options::overwrite_existing);
  {
    std::FILE* f = std::fopen((dir / "elements.tsv").c_str(), "w");
    std::fputs("number\tsymbol\tname\tname_zh\tatomic_weight\tgroup\tperiod\tsource\n1\tH\thydrogen\n", f);
    std::fclose(f);
  }
  try {
    load_facts(dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("elements.tsv:2"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Exact, LeadingZerosAreDecimal) {
  // GMP's default base 0 would read "012" as octal and reject "09".
  EXPECT_EQ(q(exact::eval("012 + 09")), "21");
  EXPECT_EQ(q(*exact::parse_number("5.01892e9")), "5018920000");
  EXPECT_EQ(q(*exact::parse_number("0.089")), "89/1000");
}

TEST(Robustness, HostileInputsGiveErrorsNotCrashes) {
  EXPECT_THROW(exact::eval(std::string(100000, '-') + "5"), Error);
  EXPECT_THROW(units::parse_unit("m^999"), Error);
  std::string many;
  for (int i = 0; i < 200; i++) many += "m ";
  EXPECT_THROW(units::parse_unit(many), Error);
  std::string sq;
  for (int i = 0; i < 100000; i++) sq += "square ";
  EXPECT_THROW(units::parse_unit(sq + "m"), Error);
  EXPECT_THROW(units::eval(std::string(100000, '-') + "5 m"), Error);
  // Answers of any shape are judged without throwing.
  nlohmann::json t = {{"kind", "quantity"}, {"value", 1.0}, {"dim", {1, 0, 0, 0, 0, 0, 0}}, {"unit", "m"}, {"rel_tol", 0.01}};
  for (const char* a : {"Answer: 1 m^", "Answer: 1 (m", "Answer: 1 m)", "Answer: 1e999999 m", "Answer: 1 ^^", "Answer: -", "Answer: 1/0 m"})
    EXPECT_NO_THROW(verify(make_task(t), a)) << a;
}
