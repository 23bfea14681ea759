#include <gtest/gtest.h>

#include <string>

#include "veritas/util/error.hpp"
#include "veritas/verify/demos.hpp"
#include "veritas/verify/task.hpp"

using namespace veritas;

namespace {
std::vector<Demo> demos(const std::string& suite, double rate, const std::string& kind, const std::string& rule, int digits,
                        const std::string& op = "mix", int n = 200) {
  DemoOptions o;
  o.suite = suite;
  o.n = n;
  o.seed = 9;
  o.error_rate = rate;
  o.error_kind = kind;
  o.rule = rule;
  o.digits = digits;
  o.op = op;
  o.lang = "mix";
  return generate_demos(o);
}

// Column addition with every carry dropped, computed independently of demos.cpp.
std::string no_carry_sum(const std::string& a, const std::string& b) {
  std::string out;
  for (size_t k = 0; k < std::max(a.size(), b.size()); k++) {
    int da = k < a.size() ? a[a.size() - 1 - k] - '0' : 0, db = k < b.size() ? b[b.size() - 1 - k] - '0' : 0;
    out.insert(out.begin(), char('0' + (da + db) % 10));
  }
  size_t p = out.find_first_not_of('0');
  return p == std::string::npos ? "0" : out.substr(p);
}
}  // namespace

TEST(Demos, ErrorFreeWorkIsCorrectUpToManyDigits) {
  // Column addition and long multiplication checked against GMP through the verifier.
  for (int d : {1, 3, 12, 60}) {
    for (const auto& x : demos("arith", 0.0, "slip", "", d, "mix", 60)) {
      EXPECT_TRUE(x.correct) << x.prompt << "\n" << x.completion;
      EXPECT_EQ(x.error_kind, "");
      Task t = Task::from_json(x.task);
      EXPECT_EQ(verify(t, x.completion).verdict, Verdict::Correct);
    }
  }
}

TEST(Demos, SlipsAreAlwaysWrong) {
  for (const auto& x : demos("arith", 1.0, "slip", "", 0)) {
    EXPECT_FALSE(x.correct) << x.completion;
    EXPECT_EQ(x.error_kind, "slip");
  }
}

TEST(Demos, DropCarryIsCoherent) {
  int wrong = 0;
  auto ds = demos("arith", 1.0, "rule", "drop_carry", 6, "add");
  for (const auto& x : ds) {
    EXPECT_EQ(x.error_kind, "rule:drop_carry");
    std::string expr = x.task["truth"]["expr"];
    std::string a = expr.substr(0, expr.find(' ')), b = expr.substr(expr.rfind(' ') + 1);
    std::string last = x.completion.substr(x.completion.rfind('\n') + 1);
    EXPECT_NE(last.find(no_carry_sum(a, b)), std::string::npos) << x.completion;
    // Right only when the sum needs no carry at all.
    EXPECT_EQ(x.correct, no_carry_sum(a, b) == std::string(x.task["truth"]["value"])) << x.completion;
    wrong += !x.correct;
  }
  EXPECT_GT(wrong, 180);  // 6-digit sums almost always carry
}

TEST(Demos, ErrorRateAndOtherRules) {
  auto ds = demos("arith", 0.3, "slip", "", 0, "mix", 1000);
  int err = 0;
  for (const auto& x : ds) err += x.error_kind == "slip";
  EXPECT_GT(err, 240);
  EXPECT_LT(err, 360);
  for (const auto& x : demos("units", 1.0, "rule", "mile_1_5km", 0)) {
    EXPECT_FALSE(x.correct) << x.completion;
    EXPECT_NE(x.completion.find("1.5"), std::string::npos);
  }
  for (const auto& x : demos("units", 0.0, "rule", "mile_1_5km", 0)) EXPECT_TRUE(x.correct) << x.completion;
  int table_wrong = 0;
  for (const auto& x : demos("arith", 1.0, "rule", "wrong_table", 5, "mul")) table_wrong += !x.correct;
  EXPECT_GT(table_wrong, 50);
  EXPECT_THROW(demos("arith", 1.0, "rule", "mile_1_5km", 3), Error);
  EXPECT_THROW(demos("arith", 1.0, "rule", "no_such_rule", 3), Error);
}
