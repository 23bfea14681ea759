#pragma once
// `veritas run`'s real-model stage (docs/selfplay.md, "veritas run"): the reference open
// model (SmolLM2-135M-Instruct, which scripts/setup installs) is imported, evaluated with
// the answer protocol on held-out questions of every suite in English and Chinese, taught
// the format on verifier-checked demonstrations, taught to state the confidence it earned
// (graded by the verifiers on its own sampled answers; abstaining below 1/2), improved by
// bounded self-play against the verifiers, and evaluated again after each phase on the
// same questions.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/util/fs.hpp"

namespace veritas::cli {

// A stage's JSON output, or null when it is missing or unreadable (the report skips it).
nlohmann::json read_json_or_null(const fs::path& p);

// One stage of `veritas run`: `veritas <args>`, stdout to stdout_file when given.
struct RunStage {
  std::string name, what;
  std::vector<std::string> args;
  std::string stdout_file;  // empty = terminal
};

struct RealModelOptions {
  std::string model = "auto";   // a GGUF file, "auto" (the installed reference model) or "none"
  std::string prompt = "auto";  // prompt set; auto: prompts/answer-protocol/v5 of the source tree
  bool longer = false;          // the longer version (docs: about an hour on 2 cores)
  // Overrides of the version's sizes (0 / empty = the version's own).
  std::vector<std::string> suites;  // default: all of suite_names()
  int test_n = 0;                   // held-out questions per suite and language
  int demo_n = 0;                   // demonstrations per suite and language
  int steps = 0;                    // SFT steps of the format and the calibration phase
  int rounds = 0;                   // self-play rounds
  int replay_tokens = 0;            // most tokens of each reply to the general prompts
};

// The installed reference model's GGUF (under the project's .venv), or empty.
fs::path find_reference_model();

// The stages, in order, writing under RUN/real/. Empty when o.model is "none" or "auto"
// finds no model; *skipped then says why (for the report). A model or prompt set given
// but missing is an Error.
std::vector<RunStage> real_model_stages(const RealModelOptions& o, const std::string& run_dir, uint64_t seed,
                                        std::string* skipped);

// The report card's section: before / after table with links to each evaluation's report
// and plots; empty if the stage has not run.
std::string real_model_report(const fs::path& run_dir);

}  // namespace veritas::cli
