// `veritas run`: the main job. Chains every stage on the bundled default corpus (or a
// corpus you give) into one run folder. Each stage runs as a child process of this same
// binary with the documented flags of its subcommand, so the run is exactly what a user
// could type by hand; the commands are logged in RUN/commands.txt. A stage that finished
// leaves a marker in RUN/.done/, so after a kill `veritas run -o RUN` resumes where it
// stopped (training itself resumes from its last checkpoint).
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/cli/commands.hpp"
#include "veritas/cli/default_corpus.hpp"
#include "veritas/cli/run_real_model.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/timer.hpp"
#include "veritas/verify/task.hpp"

extern char** environ;

namespace veritas::cli {

namespace {

// The arithmetic phase: demonstrations of up to kRunDemoDigits digits; the curriculum
// and the test go to kRunEvalDigits.
constexpr int kRunDemoDigits = 3;
constexpr int kRunEvalDigits = 10;

struct RunOptions {
  std::string out;
  std::string corpus;
  int train_seconds = 180;
  int vocab_size = 4096;
  int eval_n = 20;
  int imitation_steps = 3000;
  int test_n = 20;
  int selfplay_seconds = 180;
  bool fresh = false;
  uint64_t seed = 1337;
  RealModelOptions real;
};

std::string quote(const std::string& s) {
  if (s.find_first_of(" '\"\\$`") == std::string::npos) return s;
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

// Runs `veritas <args>` (this binary) and waits; stdout goes to stdout_file when given.
int run_self(const std::vector<std::string>& args, const std::string& stdout_file) {
  std::vector<std::string> argv_s = {"/proc/self/exe"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!stdout_file.empty())
    posix_spawn_file_actions_addopen(&fa, 1, stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  int rc = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw Error("cannot start a child veritas process");
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The arithmetic phase's section: greedy accuracy per length before self-improvement
// (round 0, the imitation model) and after its last round, from selfplay/rounds.jsonl.
std::string arithmetic_report(const fs::path& dir) {
  const fs::path rounds = dir / "selfplay" / "rounds.jsonl";
  if (!fs::exists(rounds)) return "";
  std::vector<nlohmann::json> rs;  // written atomically by self-improve: every line is whole
  for_each_json_line(rounds.string(), [&](const nlohmann::json& j, const std::string&) {
    if (j.is_object() && j.contains("accuracy") && j["accuracy"].is_object()) rs.push_back(j);
  });
  if (rs.empty()) return "";
  std::vector<std::pair<int, std::string>> lengths;  // sorted by digits, not as text
  for (auto it = rs.front()["accuracy"].begin(); it != rs.front()["accuracy"].end(); ++it)
    lengths.push_back({std::atoi(it.key().c_str()), it.key()});
  std::sort(lengths.begin(), lengths.end());
  std::string r = "\n## Imitation, then self-improvement\n\nA small arithmetic model imitates additions of up to " +
                  std::to_string(kRunDemoDigits) +
                  " digits (place-marked digits in shuffled order, 10% with a slip), then improves on longer sums it "
                  "was never shown: each round it answers problems one digit past its reliable range, keeps what the "
                  "verifier accepts and trains on them (docs/selfplay.md, E1b). Greedy accuracy on held-out sums (test "
                  "split) per number of digits; rounds: [selfplay/rounds.jsonl](selfplay/rounds.jsonl), plot: "
                  "[selfplay/accuracy.svg](selfplay/accuracy.svg).\n\n| model | level |";
  std::string rule = "| --- | ---: |";
  for (auto& [n, key] : lengths) r += " " + key + " d |", rule += " ---: |";
  r += "\n" + rule + "\n";
  auto row = [&](const std::string& name, const nlohmann::json& j) {
    r += "| " + name + " | " + std::to_string(j.value("next_level", j.value("level", 0))) + " |";
    for (auto& [n, key] : lengths) {
      char b[32];
      std::snprintf(b, sizeof b, " %.0f%% |", 100 * j["accuracy"].value(key, 0.0));
      r += b;
    }
    r += "\n";
  };
  row("imitation", rs.front());
  if (rs.size() > 1) {
    char b[96];
    std::snprintf(b, sizeof b, "after round %d (%.0f CPU s)", rs.back().value("round", 0),
                  rs.back().value("total_cpu_seconds", 0.0));
    row(b, rs.back());
  }
  return r;
}

// The run's report card: one page that links every stage's own output.
void write_report(const fs::path& dir, const std::vector<std::pair<std::string, double>>& times,
                  const std::string& real_skipped) {
  std::string r = "# veritas run report\n\nRun folder: `" + dir.string() + "`\n\n## Stages\n\n| stage | seconds |\n| --- | --- |\n";
  for (auto& [name, t] : times) {
    char b[64];
    std::snprintf(b, sizeof b, "%.1f", t);
    r += "| " + name + " | " + b + " |\n";
  }
  auto card = read_json_or_null(dir / "curate" / "card.json");
  if (!card.is_null()) {
    r += "\n## Data\n\nData card: [curate/card.md](curate/card.md)\n";
    const auto& d = card["documents"];
    if (d.is_object())
      r += "\nDocuments in: " + d.value("in", nlohmann::json()).dump() + ", kept: " + d.value("kept", nlohmann::json()).dump() +
           ", rejected: " + d.value("rejected", nlohmann::json()).dump() + "\n";
  }
  // Training: last line of the metrics log with a validation loss.
  fs::path metrics = dir / "model" / "metrics.jsonl";
  if (fs::exists(metrics)) {
    std::string text = read_file(metrics), last_val, last;
    size_t p = 0;
    while (p < text.size()) {
      size_t e = text.find('\n', p);
      if (e == std::string::npos) e = text.size();
      std::string line = text.substr(p, e - p);
      if (line.find("val_loss") != std::string::npos) last_val = line;
      if (!line.empty()) last = line;
      p = e + 1;
    }
    r += "\n## Training\n\nLoss curve: [model/loss.svg](model/loss.svg). Last log line:\n\n```\n" + last +
         "\n```\n";
    if (!last_val.empty() && last_val != last) r += "\nLast validation:\n\n```\n" + last_val + "\n```\n";
  }
  if (fs::exists(dir / "sample.txt")) {
    std::string s = read_file(dir / "sample.txt");
    if (s.size() > 2000) s = s.substr(0, 2000) + "...";
    r += "\n## Sample\n\n```\n" + s + "\n```\n";
  }
  auto results = read_json_or_null(dir / "eval" / "results.json");
  if (!results.is_null() && results["overall"].is_object()) {
    const auto& ov = results["overall"];
    auto pct = [&](const char* k) {
      char b[32];
      std::snprintf(b, sizeof b, "%.1f%%", 100.0 * ov.value(k, 0.0));
      return std::string(b);
    };
    r += "\n## Evaluation\n\nTruth evaluation: [eval/report.md](eval/report.md)\n\n| correct | wrong | abstained | "
         "malformed |\n| ---: | ---: | ---: | ---: |\n| " + pct("correct_rate") + " | " + pct("wrong_rate") + " | " +
         pct("abstained_rate") + " | " + pct("malformed_rate") + " |\n";
  }
  r += arithmetic_report(dir);
  if (real_skipped.empty())
    r += real_model_report(dir);
  else
    r += "\n## A real model\n\nThe real-model stage was " + real_skipped + ".\n";
  atomic_write_file(dir / "report.md", r);
}

// A tiny model sized so that the step count fits the time budget on 2 cores; the time
// limit is only a guard (the cosine schedule is planned for the step count).
std::vector<std::string> train_args(const RunOptions& o, const std::string& d) {
  int steps = std::max(20, o.train_seconds * 2);
  std::vector<std::string> a = {"train", "--data", d + "/shards", "--out", d + "/model", "--tokenizer",
                                d + "/tokenizer.json", "--hidden-size", "256", "--layers", "4", "--heads", "4",
                                "--intermediate-size", "704", "--max-seq-len", "1024", "--seq", "128", "--batch", "8", "--steps",
                                std::to_string(steps), "--warmup", std::to_string(steps / 20), "--lr", "1e-3",
                                "--eval-every", std::to_string(std::max(10, steps / 10)), "--save-every",
                                std::to_string(std::max(10, steps / 10)), "--time-limit",
                                std::to_string(o.train_seconds * 3 / 2), "--seed", std::to_string(o.seed)};
  if (fs::exists(fs::path(d) / "model" / "checkpoint")) a.push_back("--resume");  // after a kill
  return a;
}

// The imitation phase trains a separate small arithmetic model from scratch (E1b's shape,
// 1.3 M parameters besides the embedding): the text model's wider layers learn arithmetic
// too slowly for the time budget, and Bible text teaches none. Its tokenizer is trained on
// the demonstrations, which makes the questions' fixed words a few tokens.
std::vector<std::string> imitation_args(const RunOptions& o, const std::string& d) {
  std::vector<std::string> a = {"train", "--sft", d + "/demos.jsonl", "--tokenizer", d + "/arith-tokenizer.json", "--out",
                                d + "/imitation", "--hidden-size", "128", "--layers", "6", "--heads", "4",
                                "--intermediate-size", "384", "--max-seq-len", "512", "--seq", "56", "--batch", "32",
                                "--steps", std::to_string(o.imitation_steps), "--warmup", "50", "--lr", "2e-3",
                                "--eval-every", "0", "--save-every", "100", "--seed", std::to_string(o.seed)};
  if (fs::exists(fs::path(d) / "imitation" / "checkpoint")) a.push_back("--resume");
  return a;
}

// Self-improvement with E1b's recipe (docs/selfplay.md): problems one digit past the
// reliable range, a quarter one further, the verifier as the filter, the newest answers
// given 30% of the draws. Rounds are many; the time limit ends the phase (after a whole
// round, with a checkpoint).
std::vector<std::string> selfplay_args(const RunOptions& o, const std::string& d) {
  // A resumed run keeps its saved settings, the time limit included (a fresh budget).
  if (fs::exists(fs::path(d) / "selfplay" / "checkpoint")) return {"self-improve", "--resume", "-o", d + "/selfplay"};
  std::vector<std::string> a = {"self-improve", "--model", d + "/imitation", "-o", d + "/selfplay", "--demos",
                                d + "/demos.jsonl", "--op", "add", "--format", "shuffled", "--filter", "verifier",
                                "--rounds", "500", "--questions", "128", "--k", "4", "--temperature", "0.7",
                                "--threshold", "0.7", "--lookahead", "0.25", "--frontier-share", "0.3",
                                "--start-level", "0", "--max-level", std::to_string(kRunEvalDigits), "--steps", "50",
                                "--batch", "32", "--seq", "128", "--lr", "5e-4", "--eval-n", std::to_string(o.test_n),
                                "--time-limit", std::to_string(o.selfplay_seconds), "--seed", std::to_string(o.seed),
                                "--eval-lengths"};
  for (int n = 1; n <= kRunEvalDigits; ++n) a.push_back(std::to_string(n));
  return a;
}

void run_pipeline(RunOptions o) {
  if (o.out.empty()) {
    char b[64];
    std::time_t t = std::time(nullptr);
    std::strftime(b, sizeof b, "runs/%Y%m%d-%H%M%S", std::localtime(&t));
    o.out = b;
  }
  fs::path dir = o.out;
  // A real model or prompt set that is given but missing fails before any work.
  std::string real_skipped;
  std::vector<RunStage> real = real_model_stages(o.real, dir.string(), o.seed, &real_skipped);
  if (o.fresh && fs::exists(dir)) fs::remove_all(dir);
  fs::create_directories(dir / ".done");
  std::fprintf(stderr, "veritas run: outputs in %s\n", dir.c_str());

  fs::path corpus = o.corpus.empty() ? dir / "corpus.jsonl" : fs::path(o.corpus);
  std::vector<std::pair<std::string, double>> times;
  if (o.corpus.empty() && !fs::exists(dir / ".done" / "corpus")) {
    Timer t;
    std::fprintf(stderr, "\n== corpus: building the bundled default corpus from Debian packages\n");
    auto st = build_default_corpus(corpus);
    std::fprintf(stderr, "   %ld documents, %.1f MB\n", st.documents, st.bytes / 1e6);
    atomic_write_file(dir / ".done" / "corpus", "");
    times.push_back({"corpus", t.seconds()});
  }

  const std::string d = dir.string(), seed = std::to_string(o.seed);
  std::vector<RunStage> stages = {
      {"curate", "curate the corpus (public only, dedup, quality, spam, PII)",
       {"curate", "--input", corpus.string(), "-o", d + "/curate"}, ""},
      {"tokenizer", "train a byte-level BPE tokenizer (digits never merged, for arithmetic)",
       {"tokenizer", "train", "--input", d + "/curate/kept.jsonl", "--vocab-size", std::to_string(o.vocab_size),
        "--split-digits", "-o", d + "/tokenizer.json"},
       ""},
      {"tokenize", "tokenize into shards",
       {"tokenize", "--tokenizer", d + "/tokenizer.json", "--input", d + "/curate/kept.jsonl", "-o", d + "/shards"}, ""},
      {"train", "train a tiny model (" + std::to_string(o.train_seconds) + " s budget)", train_args(o, d), ""},
      {"sample", "sample from the model",
       {"sample", "--model", d + "/model", "--prompt", "In the beginning", "--max-tokens", "80", "--temperature", "0.8",
        "--top-k", "40", "--seed", seed},
       d + "/sample.txt"},
      {"eval", "evaluate truthfulness on small suites (verifier-scored)",
       {"eval", "--model", d + "/model", "--suite", "arith", "units", "facts", "impossible", "--n",
        std::to_string(o.eval_n), "--seed", seed, "--max-tokens", "64", "-o", d + "/eval"},
       ""},
      // Imitation of additions from a "human" who slips 10% of the time, then
      // self-improvement on longer sums against the verifier (docs/selfplay.md, E1b).
      {"demos", "write demonstrations: shuffled place-marked additions up to " + std::to_string(kRunDemoDigits) +
                    " digits, 10% with a slip",
       {"tasks", "demos", "--suite", "arith", "--op", "add", "--format", "shuffled", "--same-length", "--max-digits",
        std::to_string(kRunDemoDigits), "--n", "20000", "--lang", "en", "--error-rate", "0.1", "--error-kind", "slip",
        "--seed", seed, "-o", d + "/demos.jsonl"},
       ""},
      {"arith-tokenizer", "train the arithmetic model's tokenizer on the demonstrations (512 tokens, digits never merged)",
       {"tokenizer", "train", "--input", d + "/demos.jsonl", "--vocab-size", "512", "--split-digits", "-o",
        d + "/arith-tokenizer.json"},
       ""},
      {"imitation", "train a small arithmetic model on the demonstrations (" + std::to_string(o.imitation_steps) + " steps)",
       imitation_args(o, d), ""},
      {"selfplay", "self-improvement against the verifier on longer sums (" + std::to_string(o.selfplay_seconds) +
                       " s budget); accuracy per length before and after",
       selfplay_args(o, d), ""},
  };

  for (RunStage& s : real) stages.push_back(std::move(s));

  std::string log;
  for (const RunStage& s : stages) {
    std::string cmd = "veritas";
    for (auto& a : s.args) cmd += " " + quote(a);
    if (!s.stdout_file.empty()) cmd += " > " + quote(s.stdout_file);
    log += cmd + "\n";
    if (fs::exists(dir / ".done" / s.name)) {
      std::fprintf(stderr, "\n== %s: done in an earlier run, skipped\n", s.name.c_str());
      continue;
    }
    std::fprintf(stderr, "\n== %s: %s\n   %s\n", s.name.c_str(), s.what.c_str(), cmd.c_str());
    Timer t;
    int rc = run_self(s.args, s.stdout_file);
    if (rc != 0)
      throw Error("stage '" + s.name + "' failed (exit " + std::to_string(rc) + "); fix and rerun `veritas run -o " +
                  d + "` to resume");
    atomic_write_file(dir / ".done" / s.name, "");
    times.push_back({s.name, t.seconds()});
  }
  atomic_write_file(dir / "commands.txt", log);
  write_report(dir, times, real_skipped);
  std::fprintf(stderr, "\nveritas run: finished. Report card: %s/report.md\n", d.c_str());
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand(
      "run", "run the whole pipeline (curate -> tokenizer -> tokenize -> train -> sample -> eval -> imitation -> "
             "self-improvement) on the bundled default corpus, then the real-model stage (the installed reference "
             "model SmolLM2-135M-Instruct: eval -> format SFT -> self-play -> eval), into one run folder; rerun with "
             "the same -o to resume");
  cmd->add_option("-o,--out", o->out, "run folder (default: runs/<date-time>)");
  cmd->add_option("--corpus", o->corpus, "use this JSONL corpus instead of the bundled default")->check(CLI::ExistingFile);
  cmd->add_option("--train-seconds", o->train_seconds, "training time budget in seconds")->capture_default_str();
  cmd->add_option("--vocab-size", o->vocab_size, "tokenizer vocabulary size")->capture_default_str();
  cmd->add_option("--eval-n", o->eval_n, "questions per evaluation suite")->capture_default_str();
  cmd->add_option("--imitation-steps", o->imitation_steps, "training steps of the arithmetic model on the demonstrations")->capture_default_str();
  cmd->add_option("--selfplay-seconds", o->selfplay_seconds, "self-improvement time budget in seconds")->capture_default_str();
  cmd->add_option("--test-n", o->test_n, "held-out sums per length scored before and after self-improvement")->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed for every stage")->capture_default_str();
  cmd->add_flag("--fresh", o->fresh, "delete the run folder first instead of resuming");
  cmd->add_option("--real-model", o->real.model,
                  "real-model stage: a GGUF file, auto (the reference model installed by scripts/setup; skipped with a "
                  "note if absent) or none")
      ->capture_default_str();
  cmd->add_option("--real-prompt", o->real.prompt, "real-model stage: prompt set (auto: prompts/answer-protocol/v5)")
      ->capture_default_str();
  cmd->add_flag("--real-long", o->real.longer,
                "real-model stage: the longer version (96 held-out questions, 150 format steps, 432 graded questions, "
                "100 calibration steps, 10 self-play rounds; about 1.5 hours on 2 cores) instead of the bounded one "
                "(12 questions, 40 format steps, 24 graded questions, 30 calibration steps, 2 rounds)");
  cmd->add_option("--real-suites", o->real.suites, "real-model stage: suites (default: all six)")
      ->check(CLI::IsMember(suite_names()));
  cmd->add_option("--real-test-n", o->real.test_n, "real-model stage: held-out questions per suite and language (0 = the version's)");
  cmd->add_option("--real-demos-n", o->real.demo_n, "real-model stage: demonstrations per suite and language (0 = the version's)");
  cmd->add_option("--real-steps", o->real.steps, "real-model stage: SFT steps of the format and the calibration phase (0 = the version's)");
  cmd->add_option("--real-rounds", o->real.rounds, "real-model stage: self-play rounds (0 = the version's)");
  cmd->add_option("--real-replay-tokens", o->real.replay_tokens,
                  "real-model stage: most tokens of each reply to the general prompts (0 = the version's)");
  cmd->callback([o] { run_pipeline(*o); });
}

}  // namespace veritas::cli
