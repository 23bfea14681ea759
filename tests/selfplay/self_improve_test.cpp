// Self-improvement's pieces: the majority and verifier filters, the level rule, and the
// reversed-digit format's problems and demonstrations. The rounds themselves (training,
// resume after SIGKILL) run through the binary in cli_self_improve.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include <gmpxx.h>

#include "veritas/selfplay/self_improve.hpp"
#include "veritas/util/error.hpp"
#include "veritas/verify/demos.hpp"
#include "veritas/verify/suites.hpp"
#include "veritas/verify/task.hpp"

using namespace veritas;
using namespace veritas::selfplay;

namespace {
std::string rev(std::string s) {
  std::reverse(s.begin(), s.end());
  return s;
}
}  // namespace

TEST(SelfImprove, MajorityPicksTheMode) {
  // 3 of 4 say 12: the first of them is kept.
  auto p = majority_pick({"Answer: 13", "work\nAnswer: 12", "Answer: 12", "Answer: 12."}, 0.5);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, 1u);
  // 2 of 4 is not more than half; with a lower share it is.
  EXPECT_FALSE(majority_pick({"Answer: 5", "Answer: 5", "Answer: 6", "Answer: 7"}, 0.5).has_value());
  p = majority_pick({"Answer: 5", "Answer: 6", "Answer: 5", "Answer: 7"}, 0.25);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, 0u);
  // A tie has no winner.
  EXPECT_FALSE(majority_pick({"Answer: 1", "Answer: 2"}, 0.0).has_value());
  // Malformed answers and abstentions do not vote (but count in k).
  p = majority_pick({"no answer line", "Answer: 7", "Answer: I don't know", "Answer: 7"}, 0.4);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, 1u);
  EXPECT_FALSE(majority_pick({"x", "y", "Answer: I don't know"}, 0.0).has_value());
  EXPECT_FALSE(majority_pick({}, 0.5).has_value());
}

TEST(SelfImprove, VerifierKeepsOnlyCorrectAnswers) {
  const auto tasks = improve_tasks("add", "reversed", 4, 5, 3, "train");
  ASSERT_EQ(tasks.size(), 5u);
  for (const auto& t : tasks) {
    const std::string right = t.truth.at("accept").at(0).get<std::string>();
    std::string wrong = right;
    wrong[0] = char('0' + (wrong[0] - '0' + 1) % 10);
    // The majority of answers is wrong; the verifier keeps the one right answer.
    auto p = verifier_pick(t, {"Answer: " + wrong, "Answer: " + wrong, "Answer: " + right, "Answer: " + wrong});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(*p, 2u);
    EXPECT_EQ(*majority_pick({"Answer: " + wrong, "Answer: " + wrong, "Answer: " + right, "Answer: " + wrong}, 0.5), 0u);
    EXPECT_FALSE(verifier_pick(t, {"Answer: " + wrong, "Answer: " + rev(right) + "1", "nothing"}).has_value());
  }
}

TEST(SelfImprove, LevelAdvancesOnlyAtTheThreshold) {
  EXPECT_EQ(next_level(6, 0.79, 0.8, 30), 6);
  EXPECT_EQ(next_level(6, 0.8, 0.8, 30), 7);
  EXPECT_EQ(next_level(6, 1.0, 0.8, 30), 7);
  EXPECT_EQ(next_level(30, 1.0, 0.8, 30), 30);  // never past the last level
  EXPECT_EQ(next_level(6, 0.0, 0.8, 30), 6);    // holds (never drops below the demonstrated range)
}

TEST(SelfImprove, FrontierCopiesGiveTheShareWithinTheDrawCap) {
  // 100 frontier answers among 900 others: a 0.25 share takes 3 copies (300 of 1200); with
  // 400 draws each is drawn once. With 3200 draws each would be drawn 8 times > 4, so the
  // cap (a 0.125 share) wins.
  EXPECT_EQ(frontier_copies(100, 900, 0.25, 400), 3);
  const int capped = frontier_copies(100, 900, 0.25, 3200);
  EXPECT_EQ(capped, 1);  // 0.125 * 900 / (0.875 * 100) = 1.29 -> 1
  EXPECT_LE(3200.0 * capped / (100.0 * capped + 900), kFrontierMaxDraws);
  EXPECT_EQ(frontier_copies(10, 2000, 0.3, 3200), 2);  // cap: 40 of 3200 draws = 0.0125 -> 2.53 copies -> 2
  EXPECT_EQ(frontier_copies(0, 900, 0.5, 3200), 1);    // nothing at the frontier
  EXPECT_EQ(frontier_copies(100, 900, 0.0, 3200), 1);  // off
  EXPECT_EQ(frontier_copies(100, 0, 0.5, 3200), 1);    // nothing else to weigh against
}

TEST(SelfImprove, AutoStartLevelIsOnePastTheReliableRange) {
  // Lengths in any order; the range stops at the first length below the threshold.
  nlohmann::json acc = {{"10", 0.9}, {"1", 1.0}, {"2", 0.5}, {"3", 0.08}, {"4", 0.6}};
  EXPECT_EQ(reliable_range(acc, 0.5), 2);
  EXPECT_EQ(reliable_range(acc, 0.6), 1);
  EXPECT_EQ(reliable_range({{"1", 0.2}, {"2", 1.0}}, 0.5), 0);
  EXPECT_EQ(reliable_range({{"1", 1.0}, {"5", 1.0}}, 0.5), 5);
}

TEST(SelfImprove, ReversedProblemsAreTrueAndSplit) {
  for (const std::string op : {"add", "mul1"}) {
    for (const std::string split : {"train", "test"}) {
      const auto tasks = improve_tasks(op, "reversed", 7, 40, 11, split);
      ASSERT_EQ(tasks.size(), 40u);
      for (const auto& t : tasks) {
        // "In reversed digits (ones first), what is RA + RB?" with RA, RB the operands ones first.
        const std::string q = t.question;
        const std::string pre = "In reversed digits (ones first), what is ";
        ASSERT_EQ(q.rfind(pre, 0), 0u) << q;
        const std::string expr = q.substr(pre.size(), q.size() - pre.size() - 1);
        const char sym = op == "add" ? '+' : '*';
        const size_t at = expr.find(std::string(" ") + sym + " ");
        ASSERT_NE(at, std::string::npos) << q;
        const std::string a = rev(expr.substr(0, at)), b = rev(expr.substr(at + 3));
        EXPECT_EQ(a.size(), 7u) << q;
        EXPECT_EQ(b.size(), op == "add" ? 7u : 1u) << q;
        mpz_class x(a, 10), y(b, 10);
        const mpz_class v = op == "add" ? mpz_class(x + y) : mpz_class(x * y);
        EXPECT_EQ(t.truth.at("accept").at(0).get<std::string>(), rev(v.get_str())) << q;
        EXPECT_EQ(suites::split_of_key(t.truth.at("key").get<std::string>()), split);
        EXPECT_EQ(verify(t, "Answer: " + rev(v.get_str())).verdict, Verdict::Correct);
        EXPECT_EQ(verify(t, "Answer: " + v.get_str() + "0").verdict, Verdict::Wrong);
      }
    }
  }
}

TEST(SelfImprove, ReversedDemosSlipAtTheRequestedRate) {
  DemoOptions o;
  o.op = "add";
  o.format = "reversed";
  o.max_digits = 5;
  o.n = 2000;
  o.error_rate = 0.1;
  o.seed = 4;
  int wrong = 0;
  for (const auto& d : generate_demos(o)) {
    const Task t = Task::from_json(d.task);
    EXPECT_EQ(d.correct, verify(t, d.completion).verdict == Verdict::Correct);
    EXPECT_EQ(d.correct, d.error_kind.empty()) << d.completion;  // a slip always makes the answer wrong
    wrong += !d.correct;
  }
  EXPECT_GT(wrong, 150);
  EXPECT_LT(wrong, 250);
  o.error_kind = "rule";
  EXPECT_THROW(generate_demos(o), Error);  // reversed demos carry slips only
}

TEST(SelfImprove, MarkedFormatStopsAtItsLastPlace) {
  // 25-digit problems fit the 26 place letters (the sum may have 26 digits); the settings
  // refuse a curriculum or a test length past that before any round runs.
  for (const char* format : {"marked", "shuffled", "ranged", "tagged"}) {
    for (const auto& t : improve_tasks("add", format, kMarkedMaxDigits, 20, 3, "test")) {
      const std::string ans = t.truth.at("accept").at(0).get<std::string>();
      EXPECT_EQ(verify(t, "Answer: " + ans).verdict, Verdict::Correct) << t.question;
    }
  }
  SelfImproveConfig c;
  c.model_dir = "m";
  c.out_dir = "o";
  c.format = "shuffled";
  c.max_level = kMarkedMaxDigits + 1;
  EXPECT_THROW(c.validate(), Error);
  c.format = "marked";
  c.max_level = kMarkedMaxDigits;
  c.eval_lengths = {1, kMarkedMaxDigits};
  EXPECT_NO_THROW(c.validate());
  c.max_level = kMarkedMaxDigits + 1;
  EXPECT_THROW(c.validate(), Error);
  c.max_level = kMarkedMaxDigits;
  c.eval_lengths = {kMarkedMaxDigits + 1};
  EXPECT_THROW(c.validate(), Error);
  c.format = "reversed";  // no such limit
  c.max_level = 40;
  EXPECT_NO_THROW(c.validate());
}
