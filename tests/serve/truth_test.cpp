// Truth extensions: recognising verifier questions, confidence and abstention, and
// --verified-only's choice with a model double that answers wrongly first.
#include <gtest/gtest.h>

#include "veritas/eval/answerer.hpp"
#include "veritas/serve/truth.hpp"

using namespace veritas;
using namespace veritas::serve;

TEST(serve_truth, RecognisesArithmeticQuestions) {
  auto t = recognise_question("What is 12 + 30?");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->truth["kind"], "exact");
  EXPECT_EQ(t->truth["value"], "42");
  auto f = recognise_question("Compute (3 × 4 − 2) ÷ 4.");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->truth["value"], "5/2");
  auto z = recognise_question("Evaluate 7 / (3 - 3).");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->truth["kind"], "impossible");
  EXPECT_FALSE(recognise_question("Hello, how are you?"));
  EXPECT_FALSE(recognise_question("What happened in 1990?"));
  EXPECT_FALSE(recognise_question("Is -5 negative?"));
}

TEST(serve_truth, VerdictConfidenceAndAbstention) {
  auto t = recognise_question("What is 2 + 2?");
  Assessment right = assess("2 + 2 = 4.\nAnswer: 4\nConfidence: 0.9", -3.0, t);
  EXPECT_TRUE(right.confidence_stated);
  EXPECT_DOUBLE_EQ(right.confidence, 0.9);
  ASSERT_TRUE(right.verified);
  EXPECT_TRUE(*right.verified);
  Assessment wrong = assess("Answer: 5", std::log(0.5), t);
  EXPECT_FALSE(wrong.confidence_stated);
  EXPECT_NEAR(wrong.confidence, 0.5, 1e-12);  // exp(mean token log-probability)
  ASSERT_TRUE(wrong.verified);
  EXPECT_FALSE(*wrong.verified);
  EXPECT_FALSE(wrong.reason.empty());
  Assessment idk = assess("Answer: I don't know", -0.1, t);
  EXPECT_TRUE(idk.abstained);
  EXPECT_FALSE(idk.verified);
  EXPECT_EQ(idk.confidence, 0.0);
  Assessment chat = assess("Hi there", -0.1, std::nullopt);
  EXPECT_FALSE(chat.verified);
  EXPECT_FALSE(chat.abstained);
}

namespace {
// A model double: candidate i answers wrongly while i < wrong_first, then correctly.
std::function<std::pair<std::string, double>(int)> double_model(const Task& t, int wrong_first, int* calls) {
  return [&t, wrong_first, calls](int i) -> std::pair<std::string, double> {
    ++*calls;
    std::string w = eval::wrong_answer(t);
    EXPECT_FALSE(w.empty());
    return {i < wrong_first ? "Working.\n" + w : "Working.\n" + t.reference, -0.2};
  };
}
}  // namespace

TEST(serve_truth, VerifiedOnlyReplacesARefutedAnswerByAVerifiedOne) {
  auto t = recognise_question("What is 17 * 3?");
  ASSERT_TRUE(t);
  t->reference = "Answer: 51";
  int calls = 0;
  std::vector<Assessment> tried;
  int pick = pick_verified(*t, 4, double_model(*t, 1, &calls), &tried);
  EXPECT_EQ(pick, 1);  // the first (wrong) candidate was refused
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(tried.size(), 2u);
  EXPECT_FALSE(*tried[0].verified);
  EXPECT_TRUE(*tried[1].verified);
}

TEST(serve_truth, VerifiedOnlyAbstainsWhenEveryCandidateIsRefuted) {
  auto t = recognise_question("What is 17 * 3?");
  t->reference = "Answer: 51";
  int calls = 0;
  EXPECT_EQ(pick_verified(*t, 3, double_model(*t, 99, &calls)), -1);
  EXPECT_EQ(calls, 3);
  Assessment a = assess(kAbstention, 0, t);
  EXPECT_TRUE(a.abstained);  // what the server returns instead
}

TEST(serve_truth, RecognisesFactTableQuestions) {
  auto t = recognise_question("What is the chemical symbol of iron?");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->suite, "facts");
  EXPECT_TRUE(*assess("Answer: Fe", -0.1, t).verified);
  EXPECT_FALSE(*assess("Answer: Ir", -0.1, t).verified);
  // Spacing and case do not matter.
  EXPECT_TRUE(recognise_question("what is the  chemical symbol of IRON?"));
  // Questions the suite asks with another seed, in both languages, are found with the same truth.
  for (const char* lang : {"en", "zh"}) {
    SuiteOptions o;
    o.suite = "facts";
    o.n = 20;
    o.seed = 12345;
    o.split = "test";
    o.difficulty = {{"lang", lang}};
    int found = 0;
    for (const Task& q : generate_tasks(o)) {
      auto r = recognise_question(q.question);
      if (r && r->truth == q.truth) ++found;
    }
    EXPECT_EQ(found, 20) << lang;
  }
}

namespace {
std::vector<Task> generated(const std::string& suite, const std::string& lang, int n, uint64_t seed) {
  SuiteOptions o;
  o.suite = suite;
  o.n = n;
  o.seed = seed;
  o.split = "test";
  o.difficulty = {{"lang", lang}};
  return generate_tasks(o);
}
}  // namespace

// Every verifier domain: the suite's own questions (English and Chinese, a seed the
// server's indexes were not built from) are recognised; the suite's reference answer is
// verified, a wrong answer refuted with a reason.
TEST(serve_truth, RecognisesEveryDomainsGeneratedQuestions) {
  for (const char* suite : {"arith", "algebra", "units", "physics", "facts"})
    for (const char* lang : {"en", "zh"}) {
      int seen = 0;
      for (const Task& q : generated(suite, lang, 40, 4242)) {
        if (q.truth["kind"] == "impossible") continue;  // see the next test
        ++seen;
        auto t = recognise_question(q.question);
        ASSERT_TRUE(t) << suite << " " << lang << ": not recognised: " << q.question;
        Assessment right = assess("Working.\n" + q.reference, -0.1, t);
        ASSERT_TRUE(right.verified) << q.question;
        EXPECT_TRUE(*right.verified) << q.question << " | " << q.reference << " | " << right.reason;
        std::string w = eval::wrong_answer(q);
        ASSERT_FALSE(w.empty()) << q.question;
        Assessment wrong = assess("Working.\n" + w, -0.1, t);
        ASSERT_TRUE(wrong.verified) << q.question;
        EXPECT_FALSE(*wrong.verified) << q.question << " | " << w;
        EXPECT_FALSE(wrong.reason.empty());
      }
      EXPECT_GT(seen, 20) << suite << " " << lang;
    }
}

TEST(serve_truth, RecognisesFreeFormVariations) {
  struct Case { const char* q; const char* right; const char* wrong; };
  for (const Case& c : std::vector<Case>{
           {"Solve 3x + 7 = 22 for x.", "Answer: 5", "Answer: 4"},
           {"solve: 2x + y = 5, x - y = 1", "Answer: x = 2, y = 1", "Answer: x = 1, y = 3"},
           {"解方程组：2x + 3y = 12，x - y = 1。求 x 和 y。", "答案：x = 3, y = 2", "答案：x = 2, y = 3"},
           {"If 2(x - 1) = 3x - 7, what is x?", "Answer: 5", "Answer: -5"},
           {"Convert 3 km to m", "Answer: 3000 m", "Answer: 300 m"},
           {"how many feet are in 2 miles?", "Answer: 10560 ft", "Answer: 10000 ft"},
           {"What is 1 h + 30 min, expressed in s?", "Answer: 5400 s", "Answer: 5000 s"},
           {"把 2 千米 换算成米。", "答案：2000 米", "答案：200 米"},
           {"100 °C 等于多少°F？", "答案：212 °F", "答案：100 °F"},
           {"Convert 20 °C to K.", "Answer: 293.15 K", "Answer: 20 K"},
       }) {
    auto t = recognise_question(c.q);
    ASSERT_TRUE(t) << c.q;
    auto r = assess(c.right, -0.1, t), w = assess(c.wrong, -0.1, t);
    ASSERT_TRUE(r.verified && w.verified) << c.q;
    EXPECT_TRUE(*r.verified) << c.q << ": " << r.reason;
    EXPECT_FALSE(*w.verified) << c.q << ": " << w.reason;
  }
  // No unique answer: an impossible task, where "cannot be answered" is the right answer.
  for (const char* q : {"Solve x + y = 2, 2x + 2y = 5 for x and y.", "Solve x + y = 3 for x and y.", "Convert 5 kg to m.",
                        "What is 3 m + 2 s?"}) {
    auto t = recognise_question(q);
    ASSERT_TRUE(t) << q;
    EXPECT_EQ(t->truth["kind"], "impossible") << q;
    EXPECT_TRUE(*assess("Answer: cannot be answered", -0.1, t).verified) << q;
    EXPECT_FALSE(*assess("Answer: 3", -0.1, t).verified) << q;
  }
  // Physics: the suite's wording with other values than it ever drew.
  auto p = recognise_question("A steady current of 2 A flows for 3 min. How much charge (in C) passes?");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->suite, "physics");
  EXPECT_TRUE(*assess("Answer: 360 C", -0.1, p).verified);
  EXPECT_FALSE(*assess("Answer: 6 C", -0.1, p).verified);
  // Not verifier questions: no task.
  for (const char* q : {"Hello, how are you?", "What is love?", "Convert this text to French.", "x = 5 is my favourite line",
                        "How many people live in Paris?", "把这句话换算成英文。", "What is 3 apples in pears?"})
    EXPECT_FALSE(recognise_question(q)) << q;
}

TEST(serve_truth, VerifiedOnlyWorksInEveryDomain) {
  for (const char* suite : {"arith", "algebra", "units", "physics", "facts"})
    for (const char* lang : {"en", "zh"})
      for (const Task& q : generated(suite, lang, 5, 99)) {
        if (q.truth["kind"] == "impossible") continue;
        auto t = recognise_question(q.question);
        ASSERT_TRUE(t) << q.question;
        t->reference = q.reference;
        int calls = 0;
        std::vector<Assessment> tried;
        EXPECT_EQ(pick_verified(*t, 4, double_model(*t, 2, &calls), &tried), 2) << q.question;
        ASSERT_EQ(tried.size(), 3u);
        EXPECT_FALSE(*tried[0].verified);
        EXPECT_FALSE(*tried[1].verified);
        calls = 0;
        EXPECT_EQ(pick_verified(*t, 3, double_model(*t, 99, &calls)), -1) << q.question;  // abstains
        EXPECT_EQ(calls, 3);
      }
}
