// veritas selfplay: propose -> solve -> verify -> update, round after round (docs/selfplay.md).
#include <cstdio>
#include <memory>

#include "veritas/cli/commands.hpp"
#include "veritas/cli/stop_signal.hpp"
#include "veritas/kernels/kernels.hpp"
#include "veritas/selfplay/loop.hpp"
#include "veritas/train/dist.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void register_selfplay(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "selfplay",
      "improve a model against the verifiers: propose questions, sample k answers each, verify them, update "
      "(GRPO or expert iteration); checkpoints every round, --resume continues after a kill.\n"
      "Data-parallel: mpirun -np N veritas selfplay ... (or srun) splits each round's questions over N ranks, "
      "which update together; rank 0 logs and checkpoints. See docs/scale.md.");
  auto c = std::make_shared<selfplay::SelfPlayConfig>();
  auto resume = std::make_shared<bool>(false);
  auto delay = std::make_shared<double>(0);
  auto threads = std::make_shared<int>(0);
  cmd->add_option("--model", c->model_dir, "starting checkpoint folder (config.json, model.safetensors, tokenizer.json)");
  cmd->add_option("-o,--out", c->out_dir, "run folder: checkpoint/, rounds.jsonl, selfplay.svg, samples.jsonl")->required();
  cmd->add_option("--suites", c->suites, "question suites: add mul (column arithmetic) arith algebra units physics facts impossible")
      ->capture_default_str();
  cmd->add_option("--rounds", c->rounds, "rounds to run (with --resume: the new total)")->capture_default_str();
  cmd->add_option("--questions", c->questions, "curriculum questions per suite per round")->capture_default_str();
  cmd->add_option("-k,--k", c->k, "samples per question")->capture_default_str();
  cmd->add_option("--algo", c->algo, "grpo (group-relative policy gradient) | expert (fine-tune on verified-correct samples)")
      ->capture_default_str();
  cmd->add_option("--lambda", c->reward.wrong_penalty, "a wrong answer scores -lambda (answer when P(right) > lambda/(1+lambda))")
      ->capture_default_str();
  cmd->add_option("--malformed-reward", c->reward.malformed, "reward of an answer without a valid Answer line")->capture_default_str();
  cmd->add_option("--brier", c->reward.brier_weight, "weight of the Brier calibration term on stated confidences (0 = off)")
      ->capture_default_str();
  cmd->add_option("--clip", c->loss.clip_eps, "GRPO importance-ratio clip range")->capture_default_str();
  cmd->add_option("--kl", c->loss.kl_beta, "GRPO weight of the KL term to the starting model (0 = off)")->capture_default_str();
  cmd->add_option("--lr", c->lr, "learning rate (constant)")->capture_default_str();
  cmd->add_option("--weight-decay", c->weight_decay, "AdamW weight decay")->capture_default_str();
  cmd->add_option("--epochs", c->epochs, "optimizer steps per round on the round's samples")->capture_default_str();
  cmd->add_option("--micro-batch", c->micro_batch, "sequences per forward/backward pass")->capture_default_str();
  cmd->add_option("--max-tokens", c->max_tokens, "longest answer in tokens")->capture_default_str();
  cmd->add_option("--temperature", c->temperature, "sampling temperature")->capture_default_str();
  cmd->add_option("--band-low", c->curriculum.band_lo, "lower a suite's difficulty when the solve rate falls below this")
      ->capture_default_str();
  cmd->add_option("--band-high", c->curriculum.band_hi, "raise a suite's difficulty when the solve rate exceeds this")
      ->capture_default_str();
  cmd->add_option("--start-level", c->start_level, "starting difficulty (digits for add, mul, arith)")->capture_default_str();
  cmd->add_option("--min-level", c->curriculum.min_level, "lowest difficulty")->capture_default_str();
  cmd->add_option("--max-level", c->curriculum.max_level, "highest difficulty")->capture_default_str();
  cmd->add_option("--proposer", c->proposer, "curriculum | model (only questions the model writes) | both")->capture_default_str();
  cmd->add_option("--proposals", c->proposals, "questions the model proposes per round")->capture_default_str();
  cmd->add_option("--proposal-max-digits", c->proposal_max_digits, "longest number a proposed question may use")
      ->capture_default_str();
  cmd->add_option("--proposer-weight", c->proposer_weight, "weight of the proposer's loss")->capture_default_str();
  cmd->add_option("--lang", c->lang, "question language: en | zh | mix")->capture_default_str();
  cmd->add_option("--precision", c->precision, "generation weights: fp32 | bf16 | int8")->capture_default_str();
  cmd->add_option("--seed", c->seed, "seed of every draw (questions, samples)")->capture_default_str();
  cmd->add_option("--watts-per-core", c->watts_per_core, "energy estimate per busy core when RAPL is not readable")
      ->capture_default_str();
  cmd->add_option("--time-limit", c->time_limit, "stop after the round that passes this many seconds (0 = none)")
      ->capture_default_str();
  cmd->add_option("--prompt", c->prompt,
                  "prompt-set folder (e.g. prompts/answer-protocol/v4): its system message and few-shot turns "
                  "precede each question, as in `veritas eval --prompt` (default: the bare question)");
  cmd->add_option("--train-layers", c->train_layers,
                  "train only the last K blocks and the final norm, embeddings frozen (0 = all)")
      ->capture_default_str();
  cmd->add_option("--context", c->context,
                  "longest sequence, prompt + answer, in tokens (0 = the model's max_position_embeddings, "
                  "up to 16384; imported models need a bound, e.g. 512)")
      ->capture_default_str();
  cmd->add_option("--device", c->device, "where the policy trains: cpu or cuda (a resumed run may change it)")
      ->capture_default_str();
  cmd->add_option("--sample-device", c->sample_device,
                  "where the answers are sampled: cpu or cuda (default: --device; the weights go there each round)");
  cmd->add_option("--threads", *threads, "CPU threads, 0 = all (under mpirun: per rank)")->capture_default_str();
  cmd->add_flag("--resume", *resume, "continue the run in --out (its saved settings are used; --rounds may grow)");
  cmd->add_option("--round-delay-ms", *delay, "testing: pause after each checkpoint")->group("");
  cmd->callback([c, resume, delay, threads] {
    kernels::set_cpu_threads(*threads);  // before anything uses the global thread pool
    check(*resume || !c->model_dir.empty(), "--model is required (or --resume to continue a run)");
    // Several ranks (mpirun / srun): each asks its share of the questions; rank 0 logs and writes.
    Dist& dist = Dist::world();
    if (dist.multi() && dist.rank() == 0)
      std::fprintf(stderr, "selfplay: %d ranks (rank r asks questions r, r + %d, ...)\n", dist.size(), dist.size());
    install_stop_handlers();
    selfplay::SelfPlayOptions o;
    o.resume = *resume;
    o.progress = dist.rank() == 0;
    o.should_stop = stop_requested;
    o.round_delay_ms = *delay;
    selfplay::SelfPlayResult r;
    try {
      r = selfplay::run_selfplay(*c, o);
    } catch (const std::exception& e) {
      // One rank's error must end them all, not leave them waiting in a reduction.
      if (dist.multi()) dist.abort(e.what());
      throw;
    }
    if (dist.rank() != 0) return;
    if (!r.rounds.empty()) {
      const auto& last = r.rounds.back();
      std::printf("rounds %d  mean reward %.3f  correct %.3f  wrong %.3f  abstained %.3f  malformed %.3f%s\n", r.rounds_done,
                  last["mean_reward"].get<double>(), last["correct_rate"].get<double>(), last["wrong_rate"].get<double>(),
                  last["abstain_rate"].get<double>(), last["malformed_rate"].get<double>(),
                  r.stopped_early ? "  (stopped early)" : "");
    }
  });
}

}  // namespace veritas::cli
