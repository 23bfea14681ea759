// The main job end to end on the bundled corpus, with a tiny time budget: every stage
// runs (the real-model stage on the installed SmolLM2, arithmetic only, a few steps), the
// run folder holds each stage's output, and a second invocation resumes (skips finished
// stages) instead of redoing them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "veritas/util/fs.hpp"
#include "veritas/util/timer.hpp"

using namespace veritas;

static int sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(RunCli, WholePipelineOnBundledCorpusThenResume) {
  const char* bin = std::getenv("VERITAS_BIN");
  ASSERT_NE(bin, nullptr);
  ASSERT_EQ(sh("command -v bible >/dev/null"), 0) << "package bible-kjv not installed: run scripts/setup";
  auto dir = make_temp_dir("veritas-run-");
  std::string run = std::string(bin) + " run -o " + (dir / "r").string() +
                    " --train-seconds 8 --eval-n 2 --imitation-steps 6 --selfplay-seconds 2 --test-n 4"
                    " --real-suites arith --real-test-n 1 --real-demos-n 2 --real-steps 2 --real-rounds 1"
                    " --real-replay-tokens 4";
  ASSERT_EQ(sh("VERITAS_QUIET=1 " + run + " > " + (dir / "log").string() + " 2>&1"), 0) << read_file(dir / "log");

  auto card = nlohmann::json::parse(read_file(dir / "r/curate/card.json"));
  EXPECT_EQ(card["documents"]["in"], card["documents"]["kept"].get<int>() + card["documents"]["rejected"].get<int>());
  EXPECT_GT(card["documents"]["kept"].get<int>(), 500);
  EXPECT_TRUE(fs::exists(dir / "r/tokenizer.json"));
  EXPECT_TRUE(fs::exists(dir / "r/model/checkpoint/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "r/model/loss.svg"));
  EXPECT_FALSE(read_file(dir / "r/sample.txt").empty());
  auto results = nlohmann::json::parse(read_file(dir / "r/eval/results.json"));
  EXPECT_EQ(results["overall"]["tasks"], 8);
  std::string report = read_file(dir / "r/report.md");
  EXPECT_NE(report.find("## Evaluation"), std::string::npos);
  EXPECT_NE(report.find("## Sample"), std::string::npos);
  // Imitation, then self-improvement (the time budget ends it after its first round):
  // accuracy per length at the start (round 0) and after, on 4 held-out sums per length.
  EXPECT_TRUE(fs::exists(dir / "r/imitation/checkpoint/model.safetensors"));
  const std::string rounds = read_file(dir / "r/selfplay/rounds.jsonl");
  EXPECT_EQ(std::count(rounds.begin(), rounds.end(), '\n'), 2) << rounds;
  EXPECT_EQ(nlohmann::json::parse(rounds.substr(0, rounds.find('\n')))["accuracy"].size(), 10u) << rounds;
  EXPECT_TRUE(fs::exists(dir / "r/selfplay/accuracy.svg"));
  EXPECT_NE(report.find("## Imitation, then self-improvement"), std::string::npos) << report;
  EXPECT_NE(report.find("| model | level | 1 d | 2 d |"), std::string::npos) << report;
  EXPECT_NE(report.find("| after round 1 ("), std::string::npos) << report;
  // The real model (scripts/setup installs it; missing, the stage would be skipped and
  // this test fail): imported, two held-out arithmetic questions (en, zh) scored before,
  // after the format phase, after the calibration phase and after self-play;
  // demonstrations in chat form with the model's own replies to the 48 general prompts
  // mixed in; 4 train-split questions graded with 4 samples each, and 4 easiest ones.
  EXPECT_TRUE(fs::exists(dir / "r/real/base/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "r/real/format/checkpoint/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "r/real/calib/checkpoint/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "r/real/selfplay/rounds.jsonl"));
  for (const char* m : {"base", "format", "calib", "selfplay"})
    EXPECT_EQ(nlohmann::json::parse(read_file(dir / "r/real" / (std::string("eval-") + m) / "results.json"))["overall"]["tasks"], 2) << m;
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "r/real/grade/results.json"))["overall"]["answers"], 16);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "r/real/grade-easy/results.json"))["overall"]["answers"], 16);
  const std::string replay = read_file(dir / "r/real/replay.jsonl");
  EXPECT_EQ(std::count(replay.begin(), replay.end(), '\n'), 48);
  const std::string sft = read_file(dir / "r/real/sft.jsonl");
  EXPECT_EQ(std::count(sft.begin(), sft.end(), '\n'), 4 + 48);
  EXPECT_NE(sft.find("\"role\":\"system\""), std::string::npos);
  EXPECT_NE(sft.find("\"id\":\"replay-walk\""), std::string::npos);
  // 8 graded questions (answering ones 3 times) and the replies
  const std::string calib = read_file(dir / "r/real/calib.jsonl");
  EXPECT_GE(std::count(calib.begin(), calib.end(), '\n'), 8 + 48);
  EXPECT_NE(report.find("## A real model: SmolLM2-135M-Instruct, before and after"), std::string::npos) << report;
  EXPECT_NE(report.find("| calib | 2 |"), std::string::npos) << report;
  EXPECT_NE(report.find("| selfplay | 2 |"), std::string::npos) << report;

  // Resume: every stage is already done, so the second run only rewrites the report.
  Timer t;
  ASSERT_EQ(sh("VERITAS_QUIET=1 " + run + " > " + (dir / "log2").string() + " 2>&1"), 0);
  EXPECT_LT(t.seconds(), 5.0);
  EXPECT_NE(read_file(dir / "log2").find("done in an earlier run, skipped"), std::string::npos);
  fs::remove_all(dir);
}

// A real model or prompt set that is named but missing stops the run before any work.
TEST(RunCli, MissingRealModelIsAClearError) {
  const char* bin = std::getenv("VERITAS_BIN");
  ASSERT_NE(bin, nullptr);
  auto dir = make_temp_dir("veritas-run-real-");
  const std::string log = (dir / "log").string();
  EXPECT_NE(sh(std::string(bin) + " run --real-model /nonexistent.gguf -o " + (dir / "r").string() + " >" + log + " 2>&1"), 0);
  EXPECT_NE(read_file(log).find("--real-model /nonexistent.gguf: no such file"), std::string::npos) << read_file(log);
  EXPECT_NE(sh(std::string(bin) + " run --real-prompt " + dir.string() + " -o " + (dir / "r").string() + " >" + log + " 2>&1"), 0);
  EXPECT_NE(read_file(log).find("no system.en.txt"), std::string::npos) << read_file(log);
  EXPECT_FALSE(fs::exists(dir / "r"));
  fs::remove_all(dir);
}

TEST(RunCli, MissingCorpusFileIsAClearError) {
  const char* bin = std::getenv("VERITAS_BIN");
  ASSERT_NE(bin, nullptr);
  const std::string log = (fs::temp_directory_path() / "veritas-missing-corpus.log").string();
  EXPECT_NE(sh(std::string(bin) + " run --corpus /nonexistent.jsonl -o /tmp/veritas-none >" + log + " 2>&1"), 0);
  const std::string msg = read_file(log);
  EXPECT_NE(msg.find("--corpus: File does not exist: /nonexistent.jsonl"), std::string::npos) << msg;
}
