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
