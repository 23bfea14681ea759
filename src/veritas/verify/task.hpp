#pragma once
// A task is a question whose true answer a verifier can compute. Tasks are stored as
// JSONL (one object a line, fields below); the answer protocol is in docs/answer-protocol.md.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace veritas {

struct Task {
  std::string id;          // stable, unique: "<suite>-<split>-<seed>-<index>"
  std::string suite;       // arith | algebra | units | physics | facts | impossible
  std::string split;       // train | dev | test
  std::string lang;        // en | zh
  std::string question;    // what the model is asked
  nlohmann::json truth;    // what the suite's verifier needs to judge an answer
  nlohmann::json difficulty;  // knobs: {"digits": 3, "steps": 2, ...}
  std::string reference;   // a correct final answer line, e.g. "Answer: 42" (for demos)

  nlohmann::json to_json() const;
  static Task from_json(const nlohmann::json& j);  // throws Error on missing fields
};

enum class Verdict { Correct, Wrong, Abstained, Malformed };
const char* verdict_name(Verdict v);

struct Score {
  Verdict verdict = Verdict::Malformed;
  std::string reason;                // why, for reports and debugging
  std::optional<double> confidence;  // from a "Confidence:" line, if given
};

// Scores a model's full answer text against the task's truth (never against the data).
Score verify(const Task& task, const std::string& answer_text);

struct SuiteOptions {
  std::string suite;
  int n = 100;
  uint64_t seed = 0;
  std::string split = "test";
  nlohmann::json difficulty;  // suite-specific overrides; empty = the suite's default mix
};
std::vector<Task> generate_tasks(const SuiteOptions& opts);
const std::vector<std::string>& suite_names();
// A suite's easiest knobs (docs/verify.md, `tasks protocol-demos --easy`): questions a
// small model has a chance on; {} where the suite has none (impossible).
nlohmann::json easiest_difficulty(const std::string& suite);

std::vector<Task> read_tasks_jsonl(const std::string& path);  // throws Error with line number

}  // namespace veritas
