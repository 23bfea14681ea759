// Verifications per CPU second for each suite's verifier, single-threaded, on real
// answers only: each task's reference answer (with working before it) and a wrong one.
// Abstentions and malformed answers are settled by the answer parser before any checking
// and would inflate the rate, so they are not timed. Targets from issue 4: arithmetic
// >= 100,000/s, units >= 20,000/s; the printed ratio is measured / target.
// With a folder as second argument, each suite's (truth, answer, verdict) list and the
// rates are written there (SUITE.jsonl, rates.json) for the Python peers (peers.py),
// which check the same answers. Time is this process's CPU time, as the peers measure
// theirs, so that other load on the machine does not tilt the ratio.
#include <cstdio>
#include <fstream>
#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/verify/task.hpp"

using namespace veritas;

static double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  std::string dump = argc > 2 ? argv[2] : "";
  nlohmann::json rates = nlohmann::json::object();
  struct Row { const char* suite; double target; };
  const Row rows[] = {{"arith", 100000}, {"algebra", 0}, {"units", 20000}, {"physics", 20000}, {"facts", 0}, {"impossible", 0}};
  std::printf("rates per CPU second on real answers only (reference and wrong answers; no abstentions or malformed ones)\n");
  std::printf("%-11s %14s %12s %10s  %s\n", "verifier", "verifs/s/core", "target", "ratio", "answers");
  int failures = 0;
  for (const auto& r : rows) {
    SuiteOptions o;
    o.suite = r.suite;
    o.n = 2000;
    o.seed = 1;
    o.split = "train";
    auto tasks = generate_tasks(o);
    // Each task is judged on its reference answer (with working text before it) and a
    // wrong one: real answers, which the verifier must check.
    std::vector<std::pair<const Task*, std::string>> work;
    for (const auto& t : tasks) {
      work.push_back({&t, "Let me work it out step by step.\n" + t.reference + "\nConfidence: 0.9"});
      std::string wrong = t.reference;
      size_t p = wrong.find_first_of("123456789");
      if (p != std::string::npos) wrong[p] = wrong[p] == '9' ? '8' : char(wrong[p] + 1);
      work.push_back({&t, wrong});
    }
    // Warm-up (unit table, fact tables), then timed passes until `seconds` elapse.
    std::ofstream out;
    if (!dump.empty()) {
      out.open(dump + "/" + r.suite + ".jsonl");
      if (!out) {
        std::fprintf(stderr, "error: cannot write %s/%s.jsonl\n", dump.c_str(), r.suite);
        return 2;
      }
    }
    for (const auto& [t, a] : work) {
      bool ok = verify(*t, a).verdict == Verdict::Correct;
      if (out.is_open()) out << nlohmann::json{{"truth", t->truth}, {"answer", a}, {"correct", ok}}.dump() << "\n";
    }
    double t0 = cpu_seconds();
    int64_t n = 0;
    int64_t correct = 0, passes = 0;
    while (cpu_seconds() - t0 < seconds) {
      for (const auto& [t, a] : work) correct += verify(*t, a).verdict == Verdict::Correct;
      n += (int64_t)work.size();
      passes++;
    }
    double rate = n / (cpu_seconds() - t0);
    rates[r.suite] = {{"rate", rate}, {"items", work.size()}, {"target", r.target}};
    char target[32] = "-", ratio[32] = "-";
    if (r.target > 0) {
      std::snprintf(target, sizeof target, "%.0f", r.target);
      std::snprintf(ratio, sizeof ratio, "%.2fx", rate / r.target);
      failures += rate < r.target;
    }
    std::printf("%-11s %14.0f %12s %10s  %zu a pass, %lld judged correct\n", r.suite, rate, target, ratio, work.size(),
                (long long)(correct / std::max<int64_t>(passes, 1)));
  }
  if (!dump.empty()) {
    std::ofstream f(dump + "/rates.json");
    f << rates.dump() << "\n";
    if (!f) {
      std::fprintf(stderr, "error: cannot write %s/rates.json\n", dump.c_str());
      return 2;
    }
  }
  // Below a target is a result, not an error, when the rates go to the peers.
  return failures && dump.empty() ? 1 : 0;
}
