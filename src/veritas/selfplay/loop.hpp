#pragma once
// The self-play loop behind `veritas selfplay` (docs/selfplay.md):
//
//   for each round:
//     propose  curriculum tasks per suite (+ questions the model proposes, when enabled)
//     solve    k samples per question (generate_k: the prompt's KV cache is shared)
//     verify   every sample against the task's truth -> reward (reward.hpp)
//     update   GRPO (policy_loss.hpp) or expert iteration (fine-tune on verified-correct
//              samples); the proposer's questions get a learnability policy gradient
//     log      rounds.jsonl, selfplay.svg, samples.jsonl; checkpoint (atomic)
//
// Every random draw derives from (seed, round, index), and the round's state lives in the
// checkpoint, so a run killed at any moment resumes where its last checkpoint left off and
// ends bit-identical to an uninterrupted run.
//
// Under mpirun / srun (train/dist.hpp) rank r asks questions r, r + N, ...; the round's
// statistics are reduced so they equal one process's exactly, the gradients are summed as
// in training, and rank 0 writes (docs/scale.md).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/selfplay/policy_loss.hpp"
#include "veritas/selfplay/proposer.hpp"
#include "veritas/selfplay/reward.hpp"

namespace veritas::selfplay {

struct SelfPlayConfig {
  std::string model_dir;  // starting checkpoint: config.json, model.safetensors, tokenizer.json
  std::string out_dir;
  std::vector<std::string> suites = {"add", "mul"};
  int rounds = 10;
  int questions = 16;          // curriculum questions per suite per round
  int k = 8;                   // samples per question
  std::string algo = "grpo";   // grpo | expert
  RewardConfig reward;
  PolicyLossConfig loss;
  double lr = 5e-5;
  double weight_decay = 0.0;
  int epochs = 1;              // optimizer steps per round on the round's samples
  int micro_batch = 16;        // sequences per forward/backward pass
  int max_tokens = 256;        // longest answer
  double temperature = 1.0;
  CurriculumConfig curriculum;
  int start_level = 3;
  std::string proposer = "curriculum";  // curriculum | model (only the model's questions) | both
  int proposals = 16;          // questions the model proposes per round
  int proposal_max_digits = 6;
  double proposer_weight = 0.5;  // weight of the proposer's loss next to the solver's
  std::string lang = "en";     // question language: en | zh | mix
  std::string precision = "fp32";  // generation weights: fp32 | bf16 | int8
  uint64_t seed = 1;
  double watts_per_core = 3.75;  // estimate per busy core without RAPL: 240 W TDP / 64 cores (EPYC 7B13 class)
  double time_limit = 0;        // seconds; stop after the round that crosses it (0 = none)
  std::string prompt;           // prompt-set folder (eval/prompt.hpp): its system message and
                                // few-shot turns precede each question; empty = the bare question
  int train_layers = 0;         // > 0: only the last K blocks + final norm train (TrainConfig)
  int context = 0;              // longest sequence (prompt + answer); 0 = the model's, up to 16384
  // Where the policy trains (TrainConfig::device), and where its samples are drawn (an
  // engine holding the weights of the round; empty = the same device). A resumed run
  // takes the devices given now.
  std::string device = "cpu";
  std::string sample_device;

  static SelfPlayConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void validate() const;  // throws Error naming the bad setting
};

struct SelfPlayOptions {
  bool resume = false;        // continue the run in out_dir (its saved settings win, except rounds)
  bool progress = true;       // progress bar on stderr
  std::function<bool()> should_stop;  // polled between rounds (signals)
  double round_delay_ms = 0;  // testing only: sleep after each checkpoint so a test can kill mid-run
};

struct SelfPlayResult {
  int rounds_done = 0;
  nlohmann::json rounds;  // one object per round, as in rounds.jsonl
  bool stopped_early = false;
};

SelfPlayResult run_selfplay(SelfPlayConfig cfg, const SelfPlayOptions& opt);

// Energy meter: RAPL package energy (powercap) where readable, otherwise process CPU
// time times a per-core power figure, labelled as an estimate.
class EnergyMeter {
 public:
  explicit EnergyMeter(double watts_per_core);
  double joules() const;      // since construction
  double cpu_seconds() const; // process CPU time since construction
  const char* source() const { return rapl_ ? "rapl" : "estimate-cpu-time"; }

 private:
  double watts_;
  bool rapl_ = false;
  double rapl_start_ = 0, cpu_start_ = 0;
};

}  // namespace veritas::selfplay
