// veritas self-improve: self-labelled rounds with a length curriculum (docs/selfplay.md#self-improvement-beyond-the-demonstrations).
#include <cstdio>
#include <memory>

#include "veritas/cli/commands.hpp"
#include "veritas/cli/stop_signal.hpp"
#include "veritas/selfplay/self_improve.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void register_self_improve(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "self-improve",
      "self-improvement beyond the demonstrations: each round asks problems one digit longer than the model's "
      "reliable range, samples k answers, keeps what the verifier accepts (or the majority answer), fine-tunes on "
      "them and advances when the level's rate passes --threshold; greedy accuracy per length after every round. "
      "Checkpoints every round; --resume continues after a kill.");
  auto c = std::make_shared<selfplay::SelfImproveConfig>();
  auto resume = std::make_shared<bool>(false);
  cmd->add_option("--model", c->model_dir, "starting checkpoint folder (the imitation model, with tokenizer.json)");
  cmd->add_option("-o,--out", c->out_dir, "run folder: checkpoint/, rounds.jsonl, accuracy.svg, data/round-R.jsonl")
      ->required();
  cmd->add_option("--demos", c->demos, "demonstrations (SFT JSONL) mixed into every round's training")->capture_default_str();
  cmd->add_option("--op", c->op, "add | mul1 (times a 1-digit number)")->capture_default_str();
  cmd->add_option("--format", c->format, "answer format: reversed (digits ones first) | marked (reversed, each digit after a letter naming its "
                  "place) | shuffled (marked, the question's pairs in random order) | ranged (shuffled; the reply first names the "
                  "operands' first and last place) | tagged (shuffled, the second operand's marks in capitals) | columns (worked "
                  "column steps)")
      ->capture_default_str();
  cmd->add_option("--filter", c->filter,
                  "verifier (keep a verified-correct answer) | majority (keep the answer most samples agree on; no "
                  "verifier) | none (no self-labelled data: more imitation on --demos)")
      ->capture_default_str();
  auto* rounds = cmd->add_option("--rounds", c->rounds, "rounds to run (with --resume: the new total; default: the saved one)")
                     ->capture_default_str();
  cmd->add_option("--questions", c->questions, "new-level problems per round")->capture_default_str();
  cmd->add_option("-k,--k", c->k, "samples per problem")->capture_default_str();
  cmd->add_option("--temperature", c->temperature, "sampling temperature (0 = greedy)")->capture_default_str();
  auto* end_bias = cmd->add_option("--end-bias", c->end_bias,
                                   "added to the end token's logit while sampling, never in the test: negative makes the "
                                   "samples run longer than the model would stop (a resumed run may change it)")
                       ->capture_default_str();
  cmd->add_option("--threshold", c->threshold,
                  "advance one digit when the level's rate reaches this (verifier: share of samples correct; "
                  "majority: share of problems with a majority)")
      ->capture_default_str();
  cmd->add_option("--majority-share", c->majority_share, "majority: the top answer needs more than this share of the k")
      ->capture_default_str();
  cmd->add_option("--start-level", c->start_level, "digits of the first round's problems; 0 = one past the lengths the starting model already "
                  "solves (greedy accuracy >= --threshold on every evaluated length up to there)")
      ->capture_default_str();
  cmd->add_option("--max-level", c->max_level, "longest problems the curriculum asks")->capture_default_str();
  cmd->add_option("--steps", c->steps, "fine-tuning steps per round")->capture_default_str();
  cmd->add_option("--batch", c->batch, "sequences per step")->capture_default_str();
  cmd->add_option("--seq", c->seq, "tokens per training sequence")->capture_default_str();
  cmd->add_option("--lr", c->lr, "learning rate (constant)")->capture_default_str();
  cmd->add_option("--demo-share", c->demo_share, "share of each round's training examples taken from --demos")
      ->capture_default_str();
  cmd->add_option("--lookahead", c->lookahead,
                  "share of each round's problems asked one digit above the level (their verified answers are kept "
                  "too, so the next level does not start cold)")
      ->capture_default_str();
  cmd->add_option("--frontier-share", c->frontier_share,
                  "share of each round's training draws given to the answers kept at the current level or above "
                  "(0: drawn like the rest; each at most 4 times a round)")
      ->capture_default_str();
  cmd->add_option("--eval-lengths", c->eval_lengths, "digits of the test questions (default 1..32)");
  cmd->add_option("--eval-n", c->eval_n, "test questions per length")->capture_default_str();
  cmd->add_option("--time-limit", c->time_limit,
                  "stop after the round that passes this many seconds (0 = none; a resumed run starts a fresh budget)")
      ->capture_default_str();
  cmd->add_option("--seed", c->seed, "seed of every draw (problems, samples, batches)")->capture_default_str();
  cmd->add_option("--watts-per-core", c->watts_per_core, "energy estimate per busy core when RAPL is not readable")
      ->capture_default_str();
  cmd->add_option("--device", c->device, "where the fine-tuning runs: cpu or cuda (a resumed run may change it)")
      ->capture_default_str();
  cmd->add_option("--sample-device", c->sample_device,
                  "where the answers are sampled: cpu or cuda (default: --device)");
  auto* threads = cmd->add_option("--threads", c->threads, "CPU threads, 0 = all (with --resume: default the run's own)")
                      ->capture_default_str();
  cmd->add_flag("--resume", *resume, "continue the run in --out (its saved settings are used; --rounds may grow)");
  cmd->callback([c, resume, threads, rounds, end_bias] {
    if (*resume && rounds->count() == 0) c->rounds = -1;  // keep the run's own total
    check(*resume || !c->model_dir.empty(), "--model is required (or --resume to continue a run)");
    install_stop_handlers();
    selfplay::SelfImproveOptions o;
    o.resume = *resume;
    if (*resume && end_bias->count() > 0) o.end_bias = c->end_bias;
    if (*resume && threads->count() > 0) o.threads = c->threads;
    o.should_stop = stop_requested;
    const auto r = selfplay::run_self_improve(*c, o);
    const auto& last = r.rounds.back();
    std::printf("rounds %d  level %d%s\n", r.rounds_done, last.value("next_level", last.value("level", 0)),
                r.stopped_early ? "  (stopped early)" : "");
  });
}

}  // namespace veritas::cli
