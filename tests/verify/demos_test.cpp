#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "veritas/util/error.hpp"
#include "veritas/verify/demos.hpp"
#include "veritas/verify/task.hpp"

using namespace veritas;

namespace {
std::vector<Demo> demos(const std::string& suite, double rate, const std::string& kind, const std::string& rule, int digits,
                        const std::string& op = "mix", int n = 200, double abstain_rate = 0.0) {
  DemoOptions o;
  o.abstain_rate = abstain_rate;
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

// Additions of up to max_digits digits in the given answer format.
DemoOptions addition_options(const std::string& format, int max_digits, int n, uint64_t seed) {
  DemoOptions o;
  o.suite = "arith";
  o.op = "add";
  o.format = format;
  o.max_digits = max_digits;
  o.n = n;
  o.seed = seed;
  return o;
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

TEST(Demos, SameLengthDrawsOneLengthForBothOperands) {
  DemoOptions o = addition_options("reversed", 5, 400, 3);
  o.same_length = true;
  int seen[6] = {0};
  for (const auto& x : generate_demos(o)) {
    const std::string key = x.task["truth"]["key"];  // "arith:A + B", as written (not reversed)
    const std::string a = key.substr(6, key.find(' ') - 6), b = key.substr(key.rfind(' ') + 1);
    ASSERT_EQ(a.size(), b.size()) << key;
    ASSERT_GE(a.size(), 1u);
    ASSERT_LE(a.size(), 5u);
    seen[a.size()]++;
  }
  for (int d = 1; d <= 5; ++d) EXPECT_GT(seen[d], 40) << d << " digits";  // ~80 each
}

TEST(Demos, MarkedFormatNamesEveryPlace) {
  DemoOptions o = addition_options("marked", 6, 300, 4);
  o.error_rate = 0.3;
  int slips = 0;
  std::vector<bool> letter_seen(26, false);
  for (const auto& x : generate_demos(o)) {
    const Task t = Task::from_json(x.task);
    // The answer: consecutive letters, each followed by one digit of the sum, ones first.
    const std::string ans = x.completion.substr(std::string("Answer: ").size());
    const std::string v = x.task["truth"]["value"];
    ASSERT_EQ(ans.size(), 2 * v.size()) << x.completion;
    for (size_t i = 0; i < v.size(); ++i) {
      ASSERT_EQ(ans[2 * i], ans[0] + (char)i) << x.completion;
      letter_seen[ans[2 * i] - 'a'] = true;
    }
    // The question's operands carry the same marks from the same start.
    EXPECT_NE(x.prompt.find(" + " + std::string(1, ans[0])), std::string::npos) << x.prompt;
    EXPECT_EQ(verify(t, x.completion).verdict, x.correct ? Verdict::Correct : Verdict::Wrong) << x.completion;
    std::string digits;
    for (size_t i = 1; i < ans.size(); i += 2) digits.insert(digits.begin(), ans[i]);
    EXPECT_EQ(digits == v, x.correct) << x.completion;
    slips += x.error_kind == "slip";
  }
  EXPECT_GT(slips, 50);
  for (int l = 0; l < 26; ++l) EXPECT_TRUE(letter_seen[l]) << (char)('a' + l);
  o.digits = 26;  // 26-digit operands can sum to 27 digits: more places than letters
  o.max_digits = 26;
  EXPECT_THROW(generate_demos(o), Error);
}

TEST(Demos, ShuffledFormatKeepsEveryPairButNotTheirOrder) {
  DemoOptions o = addition_options("shuffled", 6, 300, 4);
  int out_of_order = 0, multi = 0;
  for (const auto& x : generate_demos(o)) {
    // Each operand of the question, its pairs put back in mark order, is the operand of the
    // expression written ones first after consecutive marks; the answer is in mark order.
    const std::string q = x.prompt, expr = x.task["truth"]["key"].get<std::string>().substr(6);  // "arith:A + B"
    const size_t plus = q.find(" + ");
    ASSERT_NE(plus, std::string::npos) << q;
    const size_t qa = q.rfind(' ', plus - 1) + 1, qb_end = q.find('?', plus);
    const std::string ops[2] = {q.substr(qa, plus - qa), q.substr(plus + 3, qb_end - plus - 3)};
    const std::string plain[2] = {expr.substr(0, expr.find(' ')), expr.substr(expr.rfind(' ') + 1)};
    const std::string ans = x.completion.substr(std::string("Answer: ").size());
    for (int k = 0; k < 2; ++k) {
      std::vector<std::string> pairs;
      for (size_t i = 0; i + 1 < ops[k].size(); i += 2) pairs.push_back(ops[k].substr(i, 2));
      ASSERT_EQ(pairs.size(), plain[k].size()) << q;
      std::string sorted_pairs;
      std::vector<std::string> s = pairs;
      std::sort(s.begin(), s.end());
      for (const auto& p : s) sorted_pairs += p;
      std::string want;
      for (size_t i = 0; i < plain[k].size(); ++i) {
        want += char(ans[0] + (char)i);
        want += plain[k][plain[k].size() - 1 - i];
      }
      EXPECT_EQ(sorted_pairs, want) << q << " / " << x.completion;
      if (pairs.size() > 2) ++multi, out_of_order += s != pairs;
    }
    EXPECT_EQ(verify(Task::from_json(x.task), x.completion).verdict, x.correct ? Verdict::Correct : Verdict::Wrong);
  }
  // Three or more pairs stay in mark order with chance 1/6 or less.
  EXPECT_GT(multi, 100);
  EXPECT_GT(out_of_order, multi * 3 / 4) << out_of_order << " of " << multi;
}

// Demonstrations in `format` and in the shuffled format from the same draws (30% slips).
static std::pair<std::vector<Demo>, std::vector<Demo>> beside_shuffled(const char* format) {
  DemoOptions o = addition_options(format, 6, 300, 4);
  o.error_rate = 0.3;
  DemoOptions s = o;
  s.format = "shuffled";
  return {generate_demos(o), generate_demos(s)};
}

TEST(Demos, RangedFormatNamesTheOperandsPlacesFirst) {
  // The same questions as the shuffled format (the same draws), the reply led by the
  // operands' first and last place; slips change digits, never the places line.
  const auto [ranged, shuffled] = beside_shuffled("ranged");
  ASSERT_EQ(ranged.size(), shuffled.size());
  int slips = 0;
  for (size_t i = 0; i < ranged.size(); ++i) {
    const Demo& x = ranged[i];
    EXPECT_EQ(x.prompt, shuffled[i].prompt);
    const size_t nl = x.completion.find('\n');
    ASSERT_NE(nl, std::string::npos) << x.completion;
    EXPECT_EQ(x.completion.substr(nl + 1), shuffled[i].completion);
    const std::string expr = x.task["truth"]["key"].get<std::string>().substr(6);  // "arith:A + B"
    const size_t n = std::max(expr.find(' '), expr.size() - expr.rfind(' ') - 1);  // the longer operand
    const char lo = shuffled[i].completion[std::string("Answer: ").size()];
    EXPECT_EQ(x.completion.substr(0, nl), std::string("Places ") + lo + " to " + char(lo + n - 1) + ".") << expr;
    EXPECT_EQ(verify(Task::from_json(x.task), x.completion).verdict, x.correct ? Verdict::Correct : Verdict::Wrong);
    slips += x.error_kind == "slip";
  }
  EXPECT_GT(slips, 50);
}

TEST(Demos, TaggedFormatCapitalizesTheSecondOperandsMarks) {
  // The same draws as the shuffled format: the first operand and the answer unchanged, the
  // second operand's pairs in the same order with each mark in capitals.
  const auto [tagged, shuffled] = beside_shuffled("tagged");
  ASSERT_EQ(tagged.size(), shuffled.size());
  for (size_t i = 0; i < tagged.size(); ++i) {
    const Demo &x = tagged[i], &y = shuffled[i];
    EXPECT_EQ(x.completion, y.completion);
    const auto operands = [](const std::string& q) {
      const size_t plus = q.find(" + "), a = q.rfind(' ', plus - 1) + 1, end = q.find('?', plus);
      return std::pair{q.substr(a, plus - a), q.substr(plus + 3, end - plus - 3)};
    };
    const auto [xa, xb] = operands(x.prompt);
    const auto [ya, yb] = operands(y.prompt);
    EXPECT_EQ(xa, ya) << x.prompt;
    ASSERT_EQ(xb.size(), yb.size()) << x.prompt;
    for (size_t k = 0; k < xb.size(); ++k)
      EXPECT_EQ(xb[k], k % 2 ? yb[k] : (char)std::toupper((unsigned char)yb[k])) << x.prompt << " / " << y.prompt;
    EXPECT_NE(x.prompt.find("capitals"), std::string::npos);
    EXPECT_EQ(verify(Task::from_json(x.task), x.completion).verdict, x.correct ? Verdict::Correct : Verdict::Wrong);
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

TEST(Demos, MessagesFieldIsSftReady) {
  for (const auto& suite : {"arith", "units"}) {
    for (const auto& x : demos(suite, 0.3, "slip", "", 0, "mix", 50, 0.2)) {
      nlohmann::json j = x.to_json();
      for (const char* k : {"id", "prompt", "completion", "correct", "error_kind", "task"}) EXPECT_TRUE(j.contains(k)) << k;
      ASSERT_TRUE(j.contains("messages"));
      const auto& m = j["messages"];
      ASSERT_TRUE(m.is_array());
      ASSERT_EQ(m.size(), 2u);
      EXPECT_EQ(m[0]["role"], "user");
      EXPECT_EQ(m[0]["content"], x.prompt);
      EXPECT_EQ(m[1]["role"], "assistant");
      EXPECT_EQ(m[1]["content"], x.completion);
      EXPECT_EQ(j["prompt"], m[0]["content"]);
      EXPECT_EQ(j["completion"], m[1]["content"]);
      // One JSONL line round-trips.
      EXPECT_EQ(nlohmann::json::parse(j.dump()), j);
    }
  }
}

TEST(Demos, AbstainRateIsRespectedAndAbstentionsVerify) {
  auto check_abstain = [](const Demo& x) {
    EXPECT_TRUE(x.completion == "Answer: I don't know" || x.completion == "答案：不知道") << x.completion;
    EXPECT_FALSE(x.correct);
    Task t = Task::from_json(x.task);
    EXPECT_EQ(verify(t, x.completion).verdict, Verdict::Abstained) << x.completion;
    EXPECT_EQ(x.to_json()["messages"][1]["content"], x.completion);
  };
  // Fixed digits: the rate itself.
  int k = 0;
  for (const auto& x : demos("arith", 0.2, "slip", "", 4, "mix", 1000, 0.3)) {
    if (x.error_kind != "abstain") continue;
    ++k;
    check_abstain(x);
  }
  EXPECT_GT(k, 240);
  EXPECT_LT(k, 360);
  // Units: the rate itself.
  k = 0;
  for (const auto& x : demos("units", 0.0, "slip", "", 0, "mix", 1000, 0.2)) {
    if (x.error_kind != "abstain") {
      EXPECT_TRUE(x.correct) << x.completion;
      continue;
    }
    ++k;
    check_abstain(x);
  }
  EXPECT_GT(k, 150);
  EXPECT_LT(k, 250);
  // A digit mix (1..6): probability rate * 2 * digits(larger) / 6, so abstentions lean to
  // the largest problems: about 1.49 x rate overall (E[max of two 1..6] = 4.47).
  int n_abs = 0, n_work = 0;
  double dig_abs = 0, dig_work = 0;
  for (const auto& x : demos("arith", 0.0, "slip", "", 0, "mix", 2000, 0.2)) {
    int dg = x.task["difficulty"]["digits"].get<int>();
    if (x.error_kind == "abstain") {
      check_abstain(x);
      ++n_abs;
      dig_abs += dg;
      EXPECT_GE(dg, 1);
    } else {
      EXPECT_TRUE(x.correct) << x.completion;
      ++n_work;
      dig_work += dg;
    }
  }
  EXPECT_GT(n_abs, 2000 * 0.2 * 1.49 * 0.8);
  EXPECT_LT(n_abs, 2000 * 0.2 * 1.49 * 1.2);
  ASSERT_GT(n_work, 0);
  EXPECT_GT(dig_abs / n_abs, dig_work / n_work + 0.5);
  // Rate 1 with fixed digits: everyone abstains; out of range is refused.
  for (const auto& x : demos("arith", 0.0, "slip", "", 3, "add", 20, 1.0)) EXPECT_EQ(x.error_kind, "abstain");
  EXPECT_THROW(demos("arith", 0.0, "slip", "", 3, "add", 20, 1.5), Error);
  EXPECT_THROW(demos("arith", 0.0, "slip", "", 3, "add", 20, -0.1), Error);
}

namespace {
// FNV-1a over every field of every demo (messages aside: they were added later).
uint64_t fingerprint(const std::vector<Demo>& ds) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0x1f) * 1099511628211ull;
  };
  for (const auto& x : ds) {
    mix(x.id);
    mix(x.prompt);
    mix(x.completion);
    mix(x.correct ? "1" : "0");
    mix(x.error_kind);
    mix(x.task.dump());
  }
  return h;
}
}  // namespace

TEST(Demos, AbstainRateZeroKeepsOutputIdentical) {
  // Fingerprints of the generator's output before abstain_rate existed; rate 0 must not
  // change a byte (nor draw extra random numbers).
  EXPECT_EQ(fingerprint(demos("arith", 0.3, "slip", "", 0, "mix", 200)), 14449640663051511863ull);
  EXPECT_EQ(fingerprint(demos("arith", 0.5, "rule", "drop_carry", 5, "add", 100)), 8329128213774187457ull);
  EXPECT_EQ(fingerprint(demos("units", 0.3, "slip", "", 0, "mix", 200)), 7366603473995117763ull);
}
