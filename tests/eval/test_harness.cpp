// The harness end to end with the test doubles: a perfect answerer scores 100% correct,
// an abstaining one 100% abstained (except where abstaining is the truth), a random one
// the rates it was configured with, within binomial tolerance.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "veritas/eval/answerer.hpp"
#include "veritas/eval/harness.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

using namespace veritas;
using namespace veritas::eval;

namespace {

bool is_impossible(const Task& t) { return t.truth.value("kind", std::string()) == "impossible"; }

std::vector<Task> some_tasks(int n_per_suite, uint64_t seed = 7) {
  return load_tasks(suite_names(), n_per_suite, seed, "test", "");
}

EvalOptions quiet(int k = 1) {
  EvalOptions o;
  o.samples = k;
  o.progress = false;
  return o;
}

}  // namespace

TEST(EvalHarness, PerfectDoubleScoresAllCorrect) {
  auto dbl = make_double({"perfect"});
  auto run = run_eval(some_tasks(15), *dbl, quiet());
  const auto& o = run.results["overall"];
  EXPECT_EQ(o["answers"].get<int>(), 15 * (int)suite_names().size());
  EXPECT_EQ(o["correct_rate"].get<double>(), 1.0) << o.dump();
  EXPECT_EQ(o["accuracy_attempted"].get<double>(), 1.0);
  // Confidence 1 and always right: perfectly calibrated.
  EXPECT_DOUBLE_EQ(o["calibration"]["ece"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(o["calibration"]["brier"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(o["risk_coverage"]["aurc"].get<double>(), 0.0);
  for (const auto& s : suite_names()) EXPECT_EQ(run.results["suites"][s]["correct_rate"].get<double>(), 1.0) << s;
  for (const auto& r : run.answers) EXPECT_EQ(r.score.verdict, Verdict::Correct) << run.tasks[r.task].id << ": " << r.score.reason;
}

TEST(EvalHarness, AbstainingDoubleAbstainsEverywhereButImpossibleTasks) {
  auto dbl = make_double({"abstain"});
  auto run = run_eval(some_tasks(15), *dbl, quiet());
  int64_t impossible = 0;
  for (const auto& r : run.answers) {
    const Task& t = run.tasks[r.task];
    // On an impossible question "I don't know" is the truthful answer: correct.
    Verdict want = is_impossible(t) ? Verdict::Correct : Verdict::Abstained;
    impossible += is_impossible(t);
    EXPECT_EQ(r.score.verdict, want) << t.id;
  }
  const auto& o = run.results["overall"];
  EXPECT_EQ(o["abstained"].get<int64_t>() + impossible, o["answers"].get<int64_t>());
  EXPECT_GT(o["abstained"].get<int64_t>(), 0);
  EXPECT_EQ(o["wrong"].get<int64_t>(), 0);
  EXPECT_TRUE(o["calibration"].is_null());  // nothing attempted, nothing to calibrate
}

TEST(EvalHarness, RandomDoubleHitsConfiguredRates) {
  DoubleOptions d;
  d.kind = "random";
  d.p_correct = 0.45;
  d.p_wrong = 0.3;
  d.p_abstain = 0.15;  // the other 0.10 is malformed
  d.seed = 11;
  auto dbl = make_double(d);
  auto tasks = load_tasks({"arith", "facts", "units", "impossible"}, 150, 3, "test", "");
  auto run = run_eval(tasks, *dbl, quiet());
  // Expected counts, task by task: on impossible tasks both the reference and an
  // abstention are correct.
  double e[4] = {0, 0, 0, 0}, var[4] = {0, 0, 0, 0};
  for (const auto& r : run.answers) {
    bool imp = is_impossible(run.tasks[r.task]);
    double p[4] = {d.p_correct + (imp ? d.p_abstain : 0), d.p_wrong, imp ? 0 : d.p_abstain, 0.10};
    for (int i = 0; i < 4; ++i) {
      e[i] += p[i];
      var[i] += p[i] * (1 - p[i]);
    }
  }
  const auto& o = run.results["overall"];
  const char* names[4] = {"correct", "wrong", "abstained", "malformed"};
  for (int i = 0; i < 4; ++i) {
    double got = o[names[i]].get<double>();
    EXPECT_LE(std::fabs(got - e[i]), 4.5 * std::sqrt(var[i]) + 1) << names[i] << " got " << got << " expected " << e[i];
  }
  // Confidences independent of correctness: ECE = E|q - c| for c ~ U(0,1), Brier = 1/3.
  double q = o["accuracy_attempted"].get<double>();
  double ece_expected = (q * q + (1 - q) * (1 - q)) / 2;
  EXPECT_NEAR(o["calibration"]["ece"].get<double>(), ece_expected, 0.08);
  EXPECT_NEAR(o["calibration"]["brier"].get<double>(), 1.0 / 3.0, 0.04);
  // Ranking by an uninformative confidence: the risk stays near the error rate.
  EXPECT_NEAR(o["risk_coverage"]["aurc"].get<double>(), 1 - q, 0.08);
}

TEST(EvalHarness, CalibratedDoubleHasSmallEce) {
  DoubleOptions d;
  d.kind = "calibrated";
  d.p_correct = 0.5;
  d.p_wrong = 0.3;
  d.p_abstain = 0.2;
  d.seed = 5;
  auto dbl = make_double(d);
  auto run = run_eval(load_tasks({"arith", "units"}, 400, 4, "test", ""), *dbl, quiet());
  const auto& cal = run.results["overall"]["calibration"];
  // q = 0.625: c ~ U(0.25, 1), right with probability c. ECE only sampling noise;
  // Brier = E[c (1 - c)] = 0.625 - 0.4375 = 0.1875.
  EXPECT_LT(cal["ece"].get<double>(), 0.06);
  EXPECT_NEAR(cal["brier"].get<double>(), 0.1875, 0.025);
  // An informative confidence ranks wrong answers last: AURC below the error rate.
  const auto& rc = run.results["overall"]["risk_coverage"];
  EXPECT_LT(rc["aurc"].get<double>(), 0.30);
  EXPECT_LE(rc["aurc_optimal"].get<double>(), rc["aurc"].get<double>());
}

TEST(EvalHarness, SamplesGivePassAndMajority) {
  auto perfect = make_double({"perfect"});
  auto run = run_eval(load_tasks({"arith"}, 10, 1, "test", ""), *perfect, quiet(3));
  const auto& o = run.results["overall"];
  EXPECT_EQ(o["answers"].get<int>(), 30);
  EXPECT_DOUBLE_EQ(o["pass_at_k"]["pass@1"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(o["pass_at_k"]["pass@3"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(o["majority_at_k"].get<double>(), 1.0);

  DoubleOptions d;
  d.kind = "random";
  d.p_correct = 0.4;
  d.p_wrong = 0.6;
  d.p_abstain = 0;
  auto rnd = make_double(d);
  const int k = 4;
  auto r2 = run_eval(load_tasks({"arith"}, 300, 2, "test", ""), *rnd, quiet(k));
  const auto& p = r2.results["overall"]["pass_at_k"];
  // Independent samples: pass@1 = 0.4, pass@4 = 1 - 0.6^4 = 0.8704 (binomial noise on 300 tasks).
  EXPECT_NEAR(p["pass@1"].get<double>(), 0.4, 0.06);
  EXPECT_NEAR(p["pass@2"].get<double>(), 1 - 0.36, 0.06);
  EXPECT_NEAR(p["pass@4"].get<double>(), 1 - std::pow(0.6, 4), 0.06);
  // The wrong answers of one task are all the same text, so they outvote the right one
  // unless it has the majority: P(>=3 of 4 right) + 1/2 P(2 of 4) = 0.1792 + 0.1728.
  EXPECT_NEAR(r2.results["overall"]["majority_at_k"].get<double>(), 0.1792 + 0.5 * 0.3456, 0.07);
}

TEST(EvalHarness, WritesEveryOutput) {
  DoubleOptions d;
  d.kind = "random";
  auto dbl = make_double(d);
  auto run = run_eval(load_tasks({"arith", "facts"}, 20, 9, "test", ""), *dbl, quiet(2));
  auto dir = make_temp_dir("eval-out");
  write_outputs(dir.string(), run);
  for (const char* f : {"results.json", "report.md", "answers.jsonl", "reliability.svg", "risk_coverage.svg",
                        "accuracy_by_difficulty.svg"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  auto results = nlohmann::json::parse(read_file(dir / "results.json"));
  EXPECT_EQ(results["tasks"].get<int>(), 40);
  // Knob groups partition the answers of a suite once per knob.
  std::map<std::pair<std::string, std::string>, int> per_knob;
  for (const auto& g : results["difficulty_knobs"]) per_knob[{g["suite"], g["knob"]}] += g["answers"].get<int>();
  EXPECT_FALSE(per_knob.empty());
  for (const auto& [key, answers] : per_knob) EXPECT_LE(answers, 40) << key.first << " " << key.second;
  int combos = 0;
  for (const auto& g : results["difficulty"]) combos += g["answers"].get<int>();
  EXPECT_EQ(combos, 80);
  std::string md = read_file(dir / "report.md");
  for (const char* s : {"accuracy when attempted", "expected calibration error", "Brier", "AURC", "pass@2", "majority@2",
                        "By suite", "By difficulty knob", "reliability.svg"})
    EXPECT_NE(md.find(s), std::string::npos) << s;
  std::istringstream lines(read_file(dir / "answers.jsonl"));
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.contains("verdict") && j.contains("reason") && j.contains("answer"));
    ++count;
  }
  EXPECT_EQ(count, 80);
  EXPECT_NE(read_file(dir / "reliability.svg").find("<svg"), std::string::npos);
  fs::remove_all(dir);
}

TEST(EvalHarness, ParallelRunsGiveTheSameAnswers) {
  DoubleOptions d;
  d.kind = "random";
  d.seed = 3;
  auto dbl = make_double(d);
  auto tasks = load_tasks({"arith"}, 40, 1, "test", "");
  EvalOptions a = quiet(), b = quiet();
  a.parallel = 1;
  b.parallel = 4;
  auto r1 = run_eval(tasks, *dbl, a), r2 = run_eval(tasks, *dbl, b);
  ASSERT_EQ(r1.answers.size(), r2.answers.size());
  for (size_t i = 0; i < r1.answers.size(); ++i) EXPECT_EQ(r1.answers[i].text, r2.answers[i].text);
}

TEST(EvalHarness, BadInputsGiveClearErrors) {
  auto dbl = make_double({"perfect"});
  EXPECT_THROW(make_double({"oracle"}), veritas::Error);
  EXPECT_THROW(load_tasks({"nonsense"}, 5, 0, "test", ""), veritas::Error);
  EXPECT_THROW(load_tasks({}, 5, 0, "test", ""), veritas::Error);
  EXPECT_THROW(run_eval({}, *dbl, quiet()), veritas::Error);
  auto dir = make_temp_dir("eval-bad");
  atomic_write_file(dir / "tasks.jsonl", "{\"id\": 1}\n");
  try {
    load_tasks({}, 5, 0, "test", (dir / "tasks.jsonl").string());
    ADD_FAILURE() << "expected an error";
  } catch (const veritas::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tasks.jsonl"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// The command line, as a user runs it: `veritas eval --double ...` (needs the built binary;
// ctest sets VERITAS_BIN).
TEST(EvalCli, DoublesThroughTheCommandLine) {
  const char* bin = std::getenv("VERITAS_BIN");
  if (!bin || !fs::exists(bin)) GTEST_SKIP() << "VERITAS_BIN not set or not built";
  auto dir = make_temp_dir("eval-cli");
  auto run = [&](const std::string& args) {
    std::string cmd = "VERITAS_QUIET=1 '" + std::string(bin) + "' eval " + args + " -o '" + (dir / "out").string() +
                      "' > '" + (dir / "log").string() + "' 2>&1";
    return std::system(cmd.c_str());
  };
  ASSERT_EQ(run("--suite arith algebra impossible --n 12 --double perfect"), 0) << read_file(dir / "log");
  auto r = nlohmann::json::parse(read_file(dir / "out" / "results.json"));
  EXPECT_EQ(r["overall"]["correct_rate"].get<double>(), 1.0);
  EXPECT_EQ(r["tasks"].get<int>(), 36);
  ASSERT_EQ(run("--suite units --n 12 --double abstain"), 0) << read_file(dir / "log");
  r = nlohmann::json::parse(read_file(dir / "out" / "results.json"));
  EXPECT_EQ(r["overall"]["abstained"].get<int>() + r["overall"]["correct"].get<int>(), 12);
  EXPECT_EQ(r["overall"]["wrong"].get<int>(), 0);
  // Bad usage is an error, not a crash.
  EXPECT_NE(run("--suite arith --n 3"), 0);  // no answerer
  EXPECT_NE(read_file(dir / "log").find("exactly one answerer"), std::string::npos) << read_file(dir / "log");
  EXPECT_NE(run("--suite arith --n 3 --double oracle"), 0);
  fs::remove_all(dir);
}
