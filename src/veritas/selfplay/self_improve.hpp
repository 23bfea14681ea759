#pragma once
// Self-improvement rounds behind `veritas self-improve` (docs/selfplay.md#self-improvement-beyond-the-demonstrations):
//
//   level = first length beyond the demonstrations
//   for each round:
//     ask     `questions` new train-split problems at `level` digits, k samples each
//     filter  verifier: keep one verified-correct answer per question;
//             majority: keep the answer most samples agree on (never looks at the truth);
//             none: keep nothing (the control: more imitation on the demonstrations)
//     train   `steps` SFT steps on every answer kept so far plus a share of demonstrations
//     advance level + 1 when the level's rate reached `threshold` (verifier: share of
//             samples verified correct; majority: share of questions with a majority)
//     measure greedy accuracy per length on test-split questions (eval_lengths)
//     save    checkpoint (weights, optimizer, level, history), data/round-R.jsonl,
//             rounds.jsonl, accuracy.svg; all atomic
//
// Every draw derives from (seed, round, index), so a run killed at any moment and resumed
// ends with the same weights as one that never stopped.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/verify/task.hpp"

namespace veritas::selfplay {

struct SelfImproveConfig {
  std::string model_dir;            // starting checkpoint (the imitation model)
  std::string out_dir;
  std::string demos;                // SFT JSONL replayed in every round ("" = none)
  std::string op = "add";           // add | mul1 (times a 1-digit number)
  std::string format = "reversed";  // reversed | marked | shuffled | ranged (up to kMarkedMaxDigits) | columns
                                    // (DemoOptions::format)
  std::string filter = "verifier";  // verifier | majority | none
  int rounds = 10;
  int questions = 256;              // new-level questions per round
  int k = 4;                        // samples per question
  double temperature = 0.7;
  double end_bias = 0;              // added to the end token's logit while sampling (never in the test):
                                    // negative, the samples run longer than the model would stop
  double threshold = 0.8;           // advance when the level's rate reaches this
  double majority_share = 0.5;      // majority: the top answer needs more than this share of the k
  int start_level = 6;              // digits of the first round's problems; 0 = auto: one past the
                                    // longest run of lengths (from the shortest) whose starting
                                    // accuracy reaches `threshold`
  int max_level = 64;
  int steps = 100;                  // SFT steps per round
  int batch = 32;
  int seq = 128;
  double lr = 3e-4;
  double demo_share = 0.5;          // share of a round's training examples taken from the demonstrations
  double lookahead = 0;             // share of each round's problems asked one digit above the level, so
                                    // the next level has first answers when the level advances
  double frontier_share = 0;        // share of each round's training draws given to the answers kept at the
                                    // current level or above (0: drawn like every other kept answer); each
                                    // is drawn at most kFrontierMaxDraws times a round on average
  std::vector<int> eval_lengths;    // digits of the test questions (empty: 1..32)
  int eval_n = 20;                  // test questions per length
  double time_limit = 0;            // seconds; stop after the round that crosses it (0 = none; a
                                    // resumed run has a fresh budget)
  uint64_t seed = 1;
  double watts_per_core = 3.75;     // energy estimate per busy core without RAPL
  std::string device = "cpu";       // where the fine-tuning runs (TrainConfig::device)
  std::string sample_device;        // where the samples are drawn; empty = the same device.
                                    // A resumed run takes the devices given now.
  int threads = 0;                  // CPU threads, 0 = all. A resumed run keeps the saved count
                                    // unless SelfImproveOptions::threads is set: the same
                                    // weights need the same thread count (docs/training.md)

  static SelfImproveConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void validate() const;  // throws Error naming the bad setting
};

struct SelfImproveOptions {
  bool resume = false;                 // continue the run in out_dir (saved settings win, except
                                       // rounds when cfg.rounds >= 0: the new total)
  std::optional<double> end_bias;      // with resume: replaces the saved end_bias
  std::optional<int> threads;          // with resume: replaces the saved thread count
  bool progress = true;
  std::function<bool()> should_stop;   // polled between rounds (signals)
};

struct SelfImproveResult {
  int rounds_done = 0;
  nlohmann::json rounds;  // round 0 (the start) and one object per round, as in rounds.jsonl
  bool stopped_early = false;
};

SelfImproveResult run_self_improve(SelfImproveConfig cfg, const SelfImproveOptions& opt);

// ---- the pieces (tested on their own)

// The most a frontier answer is drawn in one round on average (frontier_share): more, and a
// model fine-tuned on a handful of answers forgets the lengths it had (docs/selfplay.md).
inline constexpr double kFrontierMaxDraws = 4;
// How many copies of each of `frontier` answers, among `rest` other examples, give them the
// share `want` of `draws` uniform draws, but at most kFrontierMaxDraws draws each; >= 1.
int frontier_copies(size_t frontier, size_t rest, double want, double draws);

// Majority vote over k answer texts: the index of the first sample whose final answer is
// the most frequent one, when that answer has more than share * k votes. Answers without
// a value (malformed, "I don't know") do not vote. Never sees the truth.
std::optional<size_t> majority_pick(const std::vector<std::string>& answers, double share);
// The first answer the verifier scored correct.
std::optional<size_t> verifier_pick(const Task& task, const std::vector<std::string>& answers);
// The level after a round at `level` with rate `rate`: +1 when rate >= threshold, within max.
int next_level(int level, double rate, double threshold, int max_level);
// The longest length n such that every evaluated length up to n has accuracy (a JSON object
// "length" -> accuracy) >= threshold; 0 when the shortest already falls short.
int reliable_range(const nlohmann::json& accuracy, double threshold);
// n train- or test-split problems of `digits` digits (the larger operand; mul1: the
// multiplicand) in the given op and format; deterministic in seed.
std::vector<Task> improve_tasks(const std::string& op, const std::string& format, int digits, int n, uint64_t seed,
                                const std::string& split);

}  // namespace veritas::selfplay
