#include <gtest/gtest.h>

#include <map>
#include <set>

#include "veritas/verify/task.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

using namespace veritas;

namespace {
std::vector<Task> gen(const std::string& suite, const std::string& split, int n, uint64_t seed, nlohmann::json diff = nlohmann::json::object()) {
  SuiteOptions o;
  o.suite = suite;
  o.split = split;
  o.n = n;
  o.seed = seed;
  o.difficulty = diff;
  return generate_tasks(o);
}
}  // namespace

// Every generated task's own reference answer must verify as correct: the generator,
// the answer parser and the judges agree with each other.
TEST(Suites, ReferenceAnswersVerifyCorrect) {
  for (const auto& s : suite_names()) {
    auto tasks = gen(s, "train", 300, 7);
    ASSERT_EQ(tasks.size(), 300u);
    for (const auto& t : tasks) {
      Score sc = verify(t, "Some working.\n" + t.reference);
      EXPECT_EQ(sc.verdict, Verdict::Correct) << t.id << ": " << t.question << " | " << t.reference << " | " << sc.reason;
      EXPECT_FALSE(t.difficulty.empty()) << t.id;
      EXPECT_TRUE(t.lang == "en" || t.lang == "zh");
      // A fresh round trip through JSON keeps the task judgeable.
      Task back = Task::from_json(nlohmann::json::parse(t.to_json().dump()));
      EXPECT_EQ(verify(back, t.reference).verdict, Verdict::Correct);
    }
  }
}

TEST(Suites, Deterministic) {
  for (const auto& s : suite_names()) {
    auto a = gen(s, "test", 50, 3), b = gen(s, "test", 50, 3), c = gen(s, "test", 50, 4);
    int same = 0;
    for (size_t i = 0; i < a.size(); i++) {
      EXPECT_EQ(a[i].to_json(), b[i].to_json());
      same += a[i].question == c[i].question;
    }
    EXPECT_LT(same, 50) << s << ": another seed gives other questions";
  }
}

// A question's split is a function of its canonical content: large samples of train,
// dev and test (over several seeds) share no question.
TEST(Suites, SplitsAreDisjoint) {
  for (const auto& s : suite_names()) {
    std::map<std::string, std::string> key_split, text_split;
    for (const char* split : {"train", "dev", "test"}) {
      for (uint64_t seed : {1, 2}) {
        for (const auto& t : gen(s, split, split == std::string("train") ? 1500 : 400, seed)) {
          std::string key = t.truth.at("key").get<std::string>();
          auto [it, fresh] = key_split.emplace(key, split);
          EXPECT_EQ(it->second, split) << s << ": " << key << " in " << it->second << " and " << split;
          auto [it2, fresh2] = text_split.emplace(t.question, split);
          EXPECT_EQ(it2->second, split) << s << ": question in two splits: " << t.question;
        }
      }
    }
  }
}

TEST(Suites, ImpossibleMixedIntoEverySuite) {
  for (const auto& s : suite_names()) {
    int imp = 0;
    auto tasks = gen(s, "train", 400, 11);
    for (const auto& t : tasks) imp += t.truth["kind"] == "impossible";
    EXPECT_GT(imp, 10) << s;
    if (s != "impossible") {
      EXPECT_LT(imp, 120) << s;
    }
  }
  std::set<std::string> kinds;
  for (const auto& t : gen("impossible", "test", 300, 5)) kinds.insert(t.truth["why"].get<std::string>());
  EXPECT_GE(kinds.size(), 5u);
}

TEST(Suites, KnobsAreRecordedAndHonoured) {
  for (const auto& t : gen("arith", "dev", 50, 1, {{"digits", 30}, {"form", "mul"}, {"impossible_rate", 0}})) {
    EXPECT_EQ(t.difficulty["digits"], 30);
    EXPECT_GT(t.truth["value"].get<std::string>().size(), 30u);
  }
  for (const auto& t : gen("algebra", "dev", 30, 1, {{"vars", 3}, {"impossible_rate", 0}})) EXPECT_EQ(t.truth["vars"].size(), 3u);
  for (const auto& t : gen("arith", "dev", 30, 1, {{"lang", "zh"}})) EXPECT_EQ(t.lang, "zh");
  EXPECT_THROW(gen("nosuch", "dev", 1, 1), Error);
  EXPECT_THROW(gen("arith", "validation", 1, 1), Error);
}

TEST(Suites, ReadTasksReportsLine) {
  auto dir = make_temp_dir("veritas-tasks-test");
  auto path = (dir / "t.jsonl").string();
  atomic_write_file(path, gen("arith", "test", 1, 1)[0].to_json().dump() + "\n{\"id\": 5}\n");
  try {
    read_tasks_jsonl(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t.jsonl:2"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

