#pragma once
// The truth evaluation: ask every question k times, score each answer with verify(),
// and summarize overall, per suite and per difficulty (metrics.hpp, docs/eval.md).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/eval/answerer.hpp"
#include "veritas/eval/metrics.hpp"
#include "veritas/verify/task.hpp"

namespace veritas::eval {

struct EvalOptions {
  int samples = 1;       // k answers per question
  int parallel = 0;      // answer() calls in flight; 0 = what the answerer allows
  bool progress = true;  // progress bar on stderr
  nlohmann::json config; // how the tasks were chosen (suites, n, seed, split, file): kept in results.json
};

struct AnswerRecord {
  size_t task = 0;  // index into the task list
  int sample = 0;
  std::string text;
  Score score;
  double seconds = 0;  // time to get this task's k answers
};

struct EvalRun {
  std::vector<Task> tasks;
  std::vector<AnswerRecord> answers;  // task-major, k per task
  nlohmann::json results;             // what results.json holds
  std::string describe;
};

// Tasks from a file (filtered to `suites` when not empty) or generated per suite.
std::vector<Task> load_tasks(const std::vector<std::string>& suites, int n, uint64_t seed, const std::string& split,
                             const std::string& tasks_file, const nlohmann::json& difficulty = nlohmann::json());

EvalRun run_eval(std::vector<Task> tasks, Answerer& answerer, const EvalOptions& opts);

// The summary of a set of answers (k per task): the three-way split, calibration,
// risk-coverage, pass@k and majority@k.
nlohmann::json summarize(const std::vector<const AnswerRecord*>& answers, int k);

// OUT/results.json, OUT/report.md, OUT/answers.jsonl and OUT/*.svg, each written atomically.
void write_outputs(const std::string& out_dir, const EvalRun& run);
std::string report_markdown(const EvalRun& run);

}  // namespace veritas::eval
