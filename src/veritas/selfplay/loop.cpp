#include "veritas/selfplay/loop.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "veritas/eval/prompt.hpp"
#include "veritas/infer/engine.hpp"
#include "veritas/model/model.hpp"
#include "veritas/selfplay/model_engine.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/tokenizer/tokenizer_files.hpp"
#include "veritas/train/dist.hpp"
#include "veritas/train/trainer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/hash.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/svg.hpp"
#include "veritas/util/timer.hpp"

namespace veritas::selfplay {

namespace fs = std::filesystem;
using nlohmann::json;

// ------------------------------------------------------------------ the loop

namespace {

// The self-play loop's seeds (the salt keeps them apart from other uses).
uint64_t mix_seed(uint64_t a, uint64_t b) { return veritas::mix_seed(a, b, 0x632be59bd9b4e019ULL); }

// One sampled sequence to learn from: prompt then completion (ending in <|end|> when the
// model stopped by itself).
struct TrainSeq {
  std::vector<int32_t> tokens;
  int prompt_len = 0;
  double advantage = 0;  // policy gradient
  double weight = 0;     // per completion token
  bool policy = true;    // false: cross-entropy (expert iteration)
  std::vector<float> old_logp, ref_logp;  // per position (targets): sampling policy, starting model
};

struct Sample {
  size_t task = 0;
  std::vector<int32_t> completion;
  std::string text;
  Score score;
  double reward = 0;
};

// Runs sequences through the model in micro-batches: fn(batch inputs, targets, B, T,
// first sequence index) for each.
template <class F>
void for_micro_batches(const std::vector<TrainSeq>& seqs, int micro, F&& fn) {
  for (size_t b = 0; b < seqs.size(); b += micro) {
    const size_t e = std::min(seqs.size(), b + (size_t)micro);
    int T = 1;
    for (size_t i = b; i < e; ++i) T = std::max(T, (int)seqs[i].tokens.size() - 1);
    const int B = (int)(e - b);
    std::vector<int32_t> in((size_t)B * T, 0), tg((size_t)B * T, 0);
    for (size_t i = b; i < e; ++i) {
      const auto& t = seqs[i].tokens;
      for (int p = 0; p + 1 < (int)t.size(); ++p) {
        in[(i - b) * T + p] = t[p];
        tg[(i - b) * T + p] = t[p + 1];
      }
    }
    fn(in, tg, B, T, b);
  }
}

// Is position p (predicting tokens[p + 1]) a completion token?
bool is_completion(const TrainSeq& s, int p) { return p + 1 >= s.prompt_len && p + 1 < (int)s.tokens.size(); }

void write_outputs(const fs::path& out, const json& rounds, const std::vector<std::string>& suites) {
  std::string lines;
  for (const auto& r : rounds) lines += r.dump() + "\n";
  atomic_write_file(out / "rounds.jsonl", lines);
  Chart c;
  c.title = "Self-play: reward and solve rate per round";
  c.xlabel = "round";
  c.ylabel = "rate / mean reward";
  Series reward, abst, wrong;
  reward.name = "mean reward";
  abst.name = "abstention rate";
  wrong.name = "wrong rate";
  std::map<std::string, Series> per;
  for (const auto& r : rounds) {
    const double x = r["round"].get<double>();
    reward.x.push_back(x);
    reward.y.push_back(r["mean_reward"].get<double>());
    abst.x.push_back(x);
    abst.y.push_back(r["abstain_rate"].get<double>());
    wrong.x.push_back(x);
    wrong.y.push_back(r["wrong_rate"].get<double>());
    for (const auto& s : suites) {
      if (!r["suites"].contains(s)) continue;
      auto& ser = per[s];
      ser.name = "solve rate " + s;
      ser.x.push_back(x);
      ser.y.push_back(r["suites"][s]["solve_rate"].get<double>());
    }
  }
  c.series = {reward, wrong, abst};
  for (auto& [n, s] : per) c.series.push_back(s);
  c.ymin = -1;
  c.ymax = 1;
  atomic_write_file(out / "selfplay.svg", c.to_svg());
}

// ------------------------------------------------------------------ the run, by phase
// One round: propose questions, sample answers, verify them, turn verdicts into rewards
// and training sequences, update the policy, log the round, save a checkpoint. Each
// phase is a function below; run_selfplay calls them in that order.

// What lasts across rounds.
struct Run {
  Run(SelfPlayConfig c, const SelfPlayOptions& o)
      : cfg(std::move(c)), opt(o), out(cfg.out_dir), dist(Dist::world()), lead(dist.rank() == 0) {}
  SelfPlayConfig cfg;
  const SelfPlayOptions& opt;
  fs::path out;
  // Data parallel (docs/scale.md): rank r asks questions r, r + ranks, ...; rank 0 logs
  // and writes. One process: rank 0 of 1, every reduction a no-op.
  Dist& dist;
  bool lead;
  bool mine(size_t task) const { return (int)(task % (size_t)dist.size()) == dist.rank(); }
  std::shared_ptr<const Tokenizer> tok;
  ModelConfig mcfg;
  int context = 0;
  int32_t chat_end = 0;
  std::unique_ptr<Trainer> trainer;
  std::unique_ptr<Model> ref;  // the starting model, for the KL term
  std::optional<eval::PromptSet> prompt;  // --prompt
  int round0 = 0;
  json rounds = json::array();
  std::map<std::string, int> level;  // curriculum level per suite
};

// What one round builds up, phase by phase.
struct Round {
  int index = 0;
  uint64_t seed = 0;
  infer::SamplingOptions so;
  double t_gen = 0, t_verify = 0, t_update = 0;
  int64_t gen_tokens = 0, prompt_tokens = 0;
  // propose
  std::vector<Task> tasks;
  std::vector<std::string> task_source;  // suite name, or "proposed"
  json prop = json::object();
  std::vector<int> proposal_task;  // index into tasks, or -1
  std::vector<std::string> proposal_reject;
  std::vector<int32_t> proposer_prompt;
  std::vector<infer::Generation> proposals;
  // sample, verify
  std::vector<Sample> samples;
  std::vector<std::vector<int32_t>> prompts;
  int skipped = 0;
  int64_t n_samples = 0;  // every rank's (samples holds this rank's)
  // reward
  std::map<std::string, std::array<int64_t, 5>> per;  // correct, wrong, abstained, malformed, n
  std::map<std::string, std::array<int64_t, 2>> per_difficulty;  // "suite:digits" -> correct, n
  int64_t counts[4] = {0, 0, 0, 0};
  double reward_sum = 0;
  int groups = 0, zero_var = 0;
  std::vector<TrainSeq> seqs;
  std::vector<double> task_solve;
  // update
  int64_t trained_tokens = 0;
  double loss_sum = 0, grad_norm = 0, clipped = 0, kl = 0;
  int64_t trained_seqs = 0;
};

// Settings (the saved ones when resuming), the trainer on the starting checkpoint's
// weights, the reference model and the state of earlier rounds.
void start_run(Run& run) {
  SelfPlayConfig& cfg = run.cfg;
  const fs::path& out = run.out;
  const bool has_run = fs::exists(out / "checkpoint") || fs::exists(out / "checkpoint.old");
  if (run.opt.resume) {
    // The saved settings win (the run must go on as it began); only the rounds may grow,
    // and the device may change (checkpoints are the same files on every device).
    check(has_run, out.string() + " holds no self-play checkpoint to resume");
    const fs::path state = find_checkpoint(out) / "train_state.json";
    json st;
    try {
      st = json::parse(read_file(state));
    } catch (const json::exception& e) {
      throw Error(state.string() + ": invalid JSON (truncated or corrupt?): " + e.what());
    }
    const json extra = st.value("extra", json());
    check(extra.is_object() && extra.value("format", "") == "veritas-selfplay",
          out.string() + ": the checkpoint is not a self-play checkpoint");
    const int want_rounds = cfg.rounds;
    const std::string device = cfg.device, sample_device = cfg.sample_device;
    cfg = SelfPlayConfig::from_json(extra.at("config"));
    cfg.rounds = std::max(cfg.rounds, want_rounds);
    cfg.device = device, cfg.sample_device = sample_device;
  } else {
    check(!has_run, out.string() + " already holds a self-play run: pass --resume to continue it, or choose another folder");
  }
  run.dist.barrier();  // every rank has looked before rank 0 writes into the folder
  cfg.validate();

  // The trainer: AdamW at a constant learning rate on the starting checkpoint's weights.
  const fs::path start = find_checkpoint(cfg.model_dir);
  check(fs::exists(start / "tokenizer.json"), start.string() + " has no tokenizer.json: self-play needs one");
  // With its chat template and eos (an imported model's tokenizer_config.json).
  run.tok = std::make_shared<const Tokenizer>(load_tokenizer_files(start / "tokenizer.json"));
  run.mcfg = ModelConfig::load(start / "config.json");
  run.context = (int)std::min<int64_t>(run.mcfg.max_position_embeddings, 1 << 14);
  if (cfg.context > 0) run.context = std::min(run.context, cfg.context);
  if (!cfg.prompt.empty()) run.prompt = eval::load_prompt_set(cfg.prompt);
  TrainConfig tc;
  tc.init_from = start.string();
  tc.tokenizer = (start / "tokenizer.json").string();
  tc.out_dir = cfg.out_dir;
  tc.batch = cfg.micro_batch;
  tc.seq = run.context;
  tc.lr = cfg.lr;
  tc.min_lr = cfg.lr;
  tc.warmup = 0;
  tc.steps = std::max<int64_t>(1, (int64_t)cfg.rounds * cfg.epochs);
  tc.adamw.weight_decay = cfg.weight_decay;
  tc.seed = cfg.seed;
  tc.train_layers = cfg.train_layers;
  tc.device = cfg.device;
  run.trainer = std::make_unique<Trainer>(tc);

  for (const auto& s : cfg.suites) run.level[s] = cfg.start_level;
  if (run.opt.resume) {
    run.trainer->load_checkpoint(out);
    const json& extra = run.trainer->extra_state();
    try {
      run.round0 = extra.at("round").get<int>();
      run.rounds = extra.at("rounds");
      for (auto it = extra.at("levels").begin(); it != extra.at("levels").end(); ++it) run.level[it.key()] = it.value();
    } catch (const json::exception& e) {
      throw Error(out.string() + ": malformed self-play state: " + e.what());
    }
  }
  fs::create_directories(out);

  const std::string end_name = chat_template_of(*run.tok).end_of_turn();
  const auto chat_end = run.tok->token_id(end_name);
  check(chat_end.has_value(), "the tokenizer has no " + end_name + " token: self-play needs the chat template");
  run.chat_end = *chat_end;

  if (cfg.loss.kl_beta > 0) {
    run.ref = std::make_unique<Model>(run.mcfg, cfg.micro_batch, run.context);
    run.ref->load(start / "model.safetensors");
  }
}

// The round's questions: the curriculum's per suite, then the model's valid proposals.
void propose(const Run& run, Round& rd, infer::Engine& engine) {
  const SelfPlayConfig& cfg = run.cfg;
  for (size_t si = 0; si < cfg.suites.size() && cfg.proposer != "model"; ++si) {
    const auto& s = cfg.suites[si];
    for (auto& t : curriculum_tasks(s, run.level.at(s), cfg.questions, mix_seed(rd.seed, si), cfg.lang)) {
      rd.tasks.push_back(std::move(t));
      rd.task_source.push_back(s);
    }
  }
  rd.proposal_task.assign(cfg.proposals, -1);
  rd.proposal_reject.assign(cfg.proposals, "");
  if (cfg.proposer == "curriculum") return;
  const std::string plang = cfg.lang == "zh" ? "zh" : "en";
  rd.proposer_prompt = chat_tokens(*run.tok, {{"user", proposer_instruction(plang)}}, true);
  infer::SamplingOptions po = rd.so;
  po.max_tokens = 64;
  po.seed = mix_seed(rd.seed, 0x70726f70);
  Timer tg;
  rd.proposals = engine.generate_k(rd.proposer_prompt, cfg.proposals, po);
  // Every rank writes the same proposals (same weights and seed); rank 0 counts them.
  rd.t_gen += tg.seconds();
  if (run.lead) rd.prompt_tokens += (int64_t)rd.proposer_prompt.size();
  std::set<std::string> seen;
  for (int i = 0; i < cfg.proposals; ++i) {
    if (run.lead) rd.gen_tokens += (int64_t)rd.proposals[i].tokens.size();
    ProposalCheck pc = check_proposal(rd.proposals[i].text, cfg.proposal_max_digits,
                                      "proposed-" + std::to_string(rd.index) + "-" + std::to_string(i));
    if (pc.task && !seen.insert(pc.task->question).second) pc = {std::nullopt, "duplicate"};
    if (!pc.task) {
      rd.proposal_reject[i] = pc.reject;
      continue;
    }
    rd.proposal_task[i] = (int)rd.tasks.size();
    rd.tasks.push_back(std::move(*pc.task));
    rd.task_source.push_back("proposed");
  }
}

// The ranks must hold the same question list (they index one table by it). Proposals
// written on machines whose arithmetic differs (other CPU features) could differ: stop
// with a clear error rather than reduce mismatched tables.
void agree_on_questions(const Run& run, const Round& rd) {
  uint64_t h = kFnvBasis;
  for (const auto& t : rd.tasks) h = fnv1a(t.question, fnv1a_step(h, 0));
  const int v = (int)(h & 0x3fffffff);
  check(run.dist.max(v) == v && run.dist.max(-v) == -v,
        "round " + std::to_string(rd.index + 1) + ": the ranks drew different questions (model proposals differ "
        "between machines?); run self-play on machines of one kind, or with --proposer curriculum");
}

// k answers to each question that fits the context (the others are skipped and counted).
void sample(const Run& run, Round& rd, infer::Engine& engine) {
  const SelfPlayConfig& cfg = run.cfg;
  rd.prompts.assign(rd.tasks.size(), {});
  size_t own = 0;
  for (size_t i = 0; i < rd.tasks.size(); ++i) own += run.mine(i);
  std::optional<Progress> qbar;
  if (run.opt.progress && own >= 8)
    qbar.emplace("round " + std::to_string(rd.index + 1) + "/" + std::to_string(cfg.rounds), (int64_t)own, "q");
  for (size_t i = 0; i < rd.tasks.size(); ++i) {
    if (!run.mine(i)) continue;  // another rank's question
    rd.prompts[i] = chat_tokens(*run.tok, eval::prompt_messages(run.prompt ? &*run.prompt : nullptr, false, rd.tasks[i]), true);
    if ((int)rd.prompts[i].size() + cfg.max_tokens + 1 > run.context) {
      ++rd.skipped;  // cannot fit: not asked (counted)
      continue;
    }
    rd.so.seed = mix_seed(rd.seed, 1000003ULL * (i + 1));
    Timer tg;
    auto gens = engine.generate_k(rd.prompts[i], cfg.k, rd.so);
    rd.t_gen += tg.seconds();
    rd.prompt_tokens += (int64_t)rd.prompts[i].size();
    for (auto& g : gens) {
      Sample s;
      s.task = i;
      rd.gen_tokens += (int64_t)g.tokens.size();
      s.completion = std::move(g.tokens);
      if (g.finish == infer::FinishReason::Stop) s.completion.push_back(run.chat_end);
      s.text = std::move(g.text);
      rd.samples.push_back(std::move(s));
    }
    if (qbar) qbar->add(1);
  }
  if (qbar) qbar->finish();
}

// The verifier's verdict on every answer.
void verify_samples(Round& rd) {
  Timer tv;
  for (Sample& s : rd.samples) s.score = verify(rd.tasks[s.task], s.text);
  rd.t_verify += tv.seconds();
}

// Rewards, the round's statistics, group advantages and the sequences to train on
// (solver; then the proposer's learnability policy gradient).
//
// With several ranks every question's group of k samples lives on the rank that asked
// it, so its advantages are local. The statistics are not: every rank's verdicts go into
// one table (per question: asked, k rewards, k verdicts) summed over the ranks, where
// each entry is non-zero on its owner alone, so the sum is exact; every rank then reads
// the statistics from the table in question order, the very sums one process makes.
void reward_samples(const Run& run, Round& rd) {
  const SelfPlayConfig& cfg = run.cfg;
  for (Sample& s : rd.samples) s.reward = reward(s.score, cfg.reward);
  const size_t K = (size_t)cfg.k, row = 1 + 2 * K, nt = rd.tasks.size();
  std::vector<double> tab(nt * row + 2, 0.0);
  for (size_t b = 0; b < rd.samples.size(); b += K) {
    double* r = &tab[rd.samples[b].task * row];
    r[0] = 1;
    for (size_t j = 0; j < K; ++j) {
      r[1 + j] = rd.samples[b + j].reward;
      r[1 + K + j] = (double)(int)rd.samples[b + j].score.verdict;
    }
  }
  tab[nt * row] = (double)rd.gen_tokens;
  tab[nt * row + 1] = (double)rd.prompt_tokens;
  run.dist.sum(tab.data(), (int)tab.size());
  rd.gen_tokens = (int64_t)tab[nt * row];
  rd.prompt_tokens = (int64_t)tab[nt * row + 1];

  rd.task_solve.assign(nt, -1.0);
  rd.skipped = 0;
  int64_t& n_samples = rd.n_samples;
  std::vector<std::vector<double>> advs(nt);  // this rank's groups; empty: no advantage
  for (size_t ti = 0; ti < nt; ++ti) {
    const double* r = &tab[ti * row];
    if (r[0] == 0) {
      ++rd.skipped;  // did not fit the context: not asked
      continue;
    }
    std::vector<double> rw(r + 1, r + 1 + K);
    int correct = 0;
    const auto& dj = rd.tasks[ti].difficulty;
    const bool digits = dj.is_object() && dj.contains("digits") && dj["digits"].is_number_integer();
    for (size_t j = 0; j < K; ++j) {
      rd.reward_sum += rw[j];
      const int v = (int)r[1 + K + j];
      rd.counts[v]++;
      auto& pc = rd.per[rd.task_source[ti]];
      pc[v]++;
      pc[4]++;
      correct += v == (int)Verdict::Correct;
      if (digits) {
        auto& pd = rd.per_difficulty[rd.task_source[ti] + ":" + std::to_string(dj["digits"].get<int>())];
        pd[0] += v == (int)Verdict::Correct;
        pd[1]++;
      }
    }
    n_samples += (int64_t)K;
    rd.task_solve[ti] = (double)correct / cfg.k;
    ++rd.groups;
    auto adv = group_advantages(rw);
    if (std::all_of(adv.begin(), adv.end(), [](double a) { return a == 0; })) ++rd.zero_var;
    else if (run.mine(ti)) advs[ti] = std::move(adv);
  }
  for (size_t b = 0; b < rd.samples.size(); b += K) {
    const size_t ti = rd.samples[b].task;
    for (size_t j = 0; j < K; ++j) {
      const Sample& s = rd.samples[b + j];
      if (s.completion.empty()) continue;
      TrainSeq ts;
      ts.tokens = rd.prompts[ti];
      ts.prompt_len = (int)ts.tokens.size();
      ts.tokens.insert(ts.tokens.end(), s.completion.begin(), s.completion.end());
      if (cfg.algo == "grpo") {
        if (advs[ti].empty()) continue;  // every sample scored alike: nothing to learn
        ts.advantage = advs[ti][j];
        ts.policy = true;
      } else {
        if (s.score.verdict != Verdict::Correct) continue;
        ts.policy = false;
      }
      rd.seqs.push_back(std::move(ts));
    }
  }
  // Solver weights: the mean over samples of the mean over each sample's tokens
  // (GRPO); expert iteration: the mean over all verified-correct completion tokens. Both
  // over the whole round (n_samples and denom count every rank's).
  {
    double denom = 0;
    for (const auto& s : rd.seqs) denom += s.policy ? 1.0 : (double)(s.tokens.size() - s.prompt_len);
    run.dist.sum(&denom, 1);
    for (auto& s : rd.seqs) {
      const double len = (double)(s.tokens.size() - s.prompt_len);
      s.weight = s.policy ? 1.0 / (std::max<double>(1, (double)n_samples) * len) : 1.0 / denom;
    }
  }
  if (rd.proposals.empty()) return;

  // The proposer's policy gradient: learnability reward, advantages across the round's proposals.
  std::vector<double> prw(cfg.proposals, 0.0);
  int valid = 0, learnable = 0;
  std::map<std::string, int> rejects;
  for (int i = 0; i < cfg.proposals; ++i) {
    if (rd.proposal_task[i] < 0) {
      prw[i] = -1.0;  // the verifier could not settle it
      rejects[rd.proposal_reject[i]]++;
      continue;
    }
    ++valid;
    const double sr = rd.task_solve[rd.proposal_task[i]];
    prw[i] = sr < 0 ? 0.0 : learnability(sr);
    learnable += prw[i] > 0;
  }
  const auto adv = group_advantages(prw);
  double mean = 0;
  for (double r : prw) mean += r;
  rd.prop = {{"proposed", cfg.proposals}, {"valid", valid}, {"learnable", learnable},
             {"rejected", rejects}, {"mean_reward", mean / cfg.proposals}};
  if (!run.lead) return;  // every rank has the proposals; rank 0 alone learns from them
  for (int i = 0; i < cfg.proposals; ++i) {
    if (adv[i] == 0) continue;
    TrainSeq ts;
    ts.tokens = rd.proposer_prompt;
    ts.prompt_len = (int)ts.tokens.size();
    ts.tokens.insert(ts.tokens.end(), rd.proposals[i].tokens.begin(), rd.proposals[i].tokens.end());
    if (rd.proposals[i].finish == infer::FinishReason::Stop) ts.tokens.push_back(run.chat_end);
    if ((int)ts.tokens.size() == ts.prompt_len) continue;
    ts.advantage = adv[i];
    ts.weight = cfg.proposer_weight / ((double)cfg.proposals * (double)(ts.tokens.size() - ts.prompt_len));
    ts.policy = true;
    rd.seqs.push_back(std::move(ts));
  }
}

// The policy update: `epochs` passes of the clipped policy-gradient (and expert
// iteration's cross-entropy) loss over the round's sequences, one optimizer step each.
// With several ranks each runs its own sequences (their weights are already shares of
// the whole round's), the gradients are summed over the ranks (Trainer::sum_gradients)
// and every rank applies the same step.
void update(Run& run, Round& rd) {
  const SelfPlayConfig& cfg = run.cfg;
  std::vector<TrainSeq>& seqs = rd.seqs;
  double n_seqs = (double)seqs.size();
  run.dist.sum(&n_seqs, 1);
  rd.trained_seqs = (int64_t)n_seqs;
  if (n_seqs == 0) return;
  Model& model = run.trainer->model();
  Model* ref = run.ref.get();
  // The starting model's log-probabilities, once (for the KL term).
  if (ref)
    for_micro_batches(seqs, cfg.micro_batch, [&](auto& in, auto& tg, int B, int T, size_t first) {
      std::vector<float> rp((size_t)B * T);
      ref->token_logprobs(in.data(), tg.data(), B, T, rp.data());
      for (int b = 0; b < B; ++b)
        seqs[first + b].ref_logp.assign(rp.begin() + (size_t)b * T, rp.begin() + (size_t)(b + 1) * T);
    });
  for (int epoch = 0; epoch < cfg.epochs; ++epoch) {
    double loss = 0, clip_w = 0, w_sum = 0, kl_w = 0;
    for_micro_batches(seqs, cfg.micro_batch, [&](auto& in, auto& tg, int B, int T, size_t first) {
      const size_t N = (size_t)B * T;
      std::vector<float> old(N, 0.0f), refp(N, 0.0f), adv(N, 0.0f), pw(N, 0.0f), cw(N, 0.0f);
      for (int b = 0; b < B; ++b) {
        const auto& s = seqs[first + b];
        for (int p = 0; p < T; ++p) {
          if (!is_completion(s, p)) continue;
          const size_t n = (size_t)b * T + p;
          if (epoch > 0) old[n] = s.old_logp[p];
          if (ref) refp[n] = s.ref_logp[p];
          adv[n] = (float)s.advantage;
          (s.policy ? pw : cw)[n] = (float)s.weight;
          rd.trained_tokens++;
        }
      }
      // This rank's last backward pass of the step sums each layer's gradients over the
      // ranks as soon as it has finished them.
      if (first + (size_t)B == seqs.size()) run.trainer->overlap_gradient_sums();
      loss += model.forward_backward_logprob(in.data(), tg.data(), B, T, [&](const float* lp, float* dlp) {
        if (epoch == 0) {
          // The weights have not moved yet: this pass's log-probabilities are the
          // sampling policy's (ratio 1), kept for the later epochs.
          std::copy(lp, lp + N, old.begin());
          if (cfg.epochs > 1)
            for (int b = 0; b < B; ++b) seqs[first + b].old_logp.assign(lp + (size_t)b * T, lp + (size_t)(b + 1) * T);
        }
        PolicyLossStats st = grpo_loss(lp, old.data(), ref ? refp.data() : nullptr, adv.data(), pw.data(),
                                       (int64_t)N, cfg.loss, dlp);
        // Expert iteration: cross-entropy on verified-correct tokens, d(-w logp)/d logp = -w.
        double ce = 0;
        for (size_t n = 0; n < N; ++n)
          if (cw[n] != 0) {
            ce -= cw[n] * lp[n];
            dlp[n] -= cw[n];
          }
        clip_w += st.clipped_weight;
        w_sum += st.weight;
        kl_w += st.kl;
        return st.loss + ce;
      });
    });
    run.trainer->sum_gradients();
    double sums[4] = {loss, clip_w, w_sum, kl_w};
    run.dist.sum(sums, 4);
    StepStats ss = run.trainer->apply_gradients(sums[0], rd.trained_tokens);
    rd.loss_sum = sums[0];
    rd.grad_norm = ss.grad_norm;
    rd.clipped = sums[2] > 0 ? sums[1] / sums[2] : 0.0;
    rd.kl = sums[3];
  }
  double tokens = (double)rd.trained_tokens;
  run.dist.sum(&tokens, 1);
  rd.trained_tokens = (int64_t)tokens;
}

// Running totals carried from round to round (and from the saved rounds on resume).
struct Totals {
  double joules = 0, seconds = 0;
  int64_t tokens = 0;
};

// The round's record in rounds.jsonl (and the curriculum's next levels).
json log_round(Run& run, Round& rd, Totals& totals, double joules, double cpu, double secs, const char* energy_source) {
  const SelfPlayConfig& cfg = run.cfg;
  json js = json::object();
  for (const auto& s : cfg.suites) {
    auto it = rd.per.find(s);
    std::array<int64_t, 5> c = it == rd.per.end() ? std::array<int64_t, 5>{0, 0, 0, 0, 0} : it->second;
    const double sr = c[4] ? (double)c[0] / c[4] : 0.0;
    js[s] = {{"level", run.level[s]}, {"solve_rate", sr}, {"correct", c[0]}, {"wrong", c[1]}, {"abstained", c[2]},
             {"malformed", c[3]}, {"samples", c[4]}};
    if (c[4] && (s == "add" || s == "mul" || s == "arith")) run.level[s] = adjust_level(run.level[s], sr, cfg.curriculum);
  }
  json jd = json::object();  // solve rate by suite and digits, e.g. "add:3"
  for (auto& [key, c] : rd.per_difficulty) jd[key] = {{"solve_rate", (double)c[0] / c[1]}, {"samples", c[1]}};
  if (rd.per.count("proposed")) {
    auto c = rd.per["proposed"];
    rd.prop["solver"] = {{"solve_rate", c[4] ? (double)c[0] / c[4] : 0.0}, {"samples", c[4]}};
  }
  const int64_t n_samples = rd.n_samples;
  const double ns = std::max<double>(1, (double)n_samples);
  const int64_t tok_round = rd.gen_tokens + rd.prompt_tokens + 3 * rd.trained_tokens;  // forward + backward ~ 3 passes
  json r = {{"round", rd.index + 1},
            {"questions", (int64_t)rd.tasks.size() - rd.skipped},
            {"skipped", rd.skipped},
            {"samples", n_samples},
            {"mean_reward", rd.reward_sum / ns},
            {"correct_rate", rd.counts[0] / ns},
            {"wrong_rate", rd.counts[1] / ns},
            {"abstain_rate", rd.counts[2] / ns},
            {"malformed_rate", rd.counts[3] / ns},
            {"zero_variance_share", rd.groups ? (double)rd.zero_var / rd.groups : 0.0},
            {"suites", js},
            {"difficulty", jd},
            {"proposer", rd.prop},
            {"loss", rd.loss_sum},
            {"grad_norm", rd.grad_norm},
            {"clipped_share", rd.clipped},
            {"kl", rd.kl},
            {"trained_sequences", rd.trained_seqs},
            {"tokens_generated", rd.gen_tokens},
            {"tokens_prompt", rd.prompt_tokens},
            {"tokens_trained", rd.trained_tokens},
            {"seconds", secs},
            {"seconds_generate", rd.t_gen},
            {"seconds_verify", rd.t_verify},
            {"seconds_update", rd.t_update},
            {"cpu_seconds", cpu},
            {"joules", joules},
            {"energy_source", energy_source},
            {"total_tokens", totals.tokens + tok_round},
            {"total_joules", totals.joules + joules},
            {"total_seconds", totals.seconds + secs}};
  if (run.dist.multi()) r["ranks"] = run.dist.size();
  totals.seconds += secs;
  totals.joules += joules;
  totals.tokens += tok_round;
  run.rounds.push_back(r);
  return r;
}

// The checkpoint (weights, optimizer, levels, rounds, settings) and the round's files.
void save_round(Run& run, const Round& rd) {
  json lv = json::object();
  for (auto& [s, l] : run.level) lv[s] = l;
  run.trainer->set_extra_state({{"format", "veritas-selfplay"}, {"round", rd.index + 1}, {"levels", lv},
                                {"rounds", run.rounds}, {"config", run.cfg.to_json()}});
  run.trainer->save_checkpoint(run.out);  // every rank; rank 0 writes
  // Each rank's samples as lines tagged with their question, gathered on rank 0 and put
  // back in question order (the file one process writes).
  json mine = json::array();
  for (const auto& s : rd.samples)
    mine.push_back({s.task, json({{"round", rd.index + 1}, {"task", rd.tasks[s.task].id},
                                  {"question", rd.tasks[s.task].question}, {"answer", s.text},
                                  {"verdict", verdict_name(s.score.verdict)}, {"reward", s.reward}})
                                .dump(-1, ' ', false, json::error_handler_t::replace)});
  const auto parts = run.dist.gather(run.dist.multi() ? mine.dump() : std::string(), 0);
  if (!run.lead) return;
  std::vector<std::pair<size_t, std::string>> all;
  if (!run.dist.multi())
    for (auto& m : mine) all.emplace_back(m[0].get<size_t>(), m[1].get<std::string>());
  for (const auto& p : run.dist.multi() ? parts : std::vector<std::string>())
    for (auto& m : json::parse(p)) all.emplace_back(m[0].get<size_t>(), m[1].get<std::string>());
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string lines;
  for (const auto& [t, l] : all) lines += l + "\n";
  write_outputs(run.out, run.rounds, run.cfg.suites);
  atomic_write_file(run.out / "samples.jsonl", lines);
}

}  // namespace

SelfPlayResult run_selfplay(SelfPlayConfig cfg_in, const SelfPlayOptions& opt) {
  Run run(std::move(cfg_in), opt);
  start_run(run);
  const SelfPlayConfig& cfg = run.cfg;

  SelfPlayResult result;
  result.rounds = run.rounds;
  EnergyMeter meter(cfg.watts_per_core);
  Totals totals;
  if (!run.rounds.empty()) {
    totals.joules = run.rounds.back().value("total_joules", 0.0);
    totals.tokens = run.rounds.back().value("total_tokens", (int64_t)0);
    totals.seconds = run.rounds.back().value("total_seconds", 0.0);
  }
  Timer wall;
  std::optional<Progress> bar;
  if (opt.progress) bar.emplace("selfplay", cfg.rounds, "round");
  if (bar) bar->update(run.round0);

  for (int round = run.round0; round < cfg.rounds; ++round) {
    // The ranks agree on stopping (a signal seen by one rank stops them all).
    if (run.dist.max(opt.should_stop && opt.should_stop() ? 1 : 0)) {
      result.stopped_early = true;
      break;
    }
    Timer rt;
    const double j0 = meter.joules(), cpu0 = meter.cpu_seconds();
    Round rd;
    rd.index = round;
    rd.seed = mix_seed(cfg.seed, (uint64_t)round);
    infer::Engine engine = engine_from_model(run.trainer->model(), run.mcfg, run.tok, cfg.precision, run.context,
                                              cfg.sample_device.empty() ? cfg.device : cfg.sample_device);
    rd.so.temperature = (float)cfg.temperature;
    rd.so.max_tokens = cfg.max_tokens;
    rd.so.stop_at_end_tokens = false;
    rd.so.stop_tokens = {run.chat_end};

    propose(run, rd, engine);
    if (run.dist.multi()) agree_on_questions(run, rd);
    sample(run, rd, engine);
    verify_samples(rd);
    Timer tu;
    reward_samples(run, rd);
    update(run, rd);
    rd.t_update = tu.seconds();
    // CPU time (and its energy estimate) of the whole job; RAPL reads rank 0's machine.
    double use[2] = {meter.joules() - j0, meter.cpu_seconds() - cpu0};
    if (std::string(meter.source()) != "rapl") run.dist.sum(use, 2);
    else run.dist.sum(&use[1], 1);
    const json r = log_round(run, rd, totals, use[0], use[1], rt.seconds(), meter.source());
    save_round(run, rd);

    result.rounds = run.rounds;
    result.rounds_done = round + 1;
    if (bar) {
      char st[160];
      std::snprintf(st, sizeof st, "reward %.3f correct %.2f wrong %.2f abstain %.2f", r["mean_reward"].get<double>(),
                    r["correct_rate"].get<double>(), r["wrong_rate"].get<double>(), r["abstain_rate"].get<double>());
      bar->update(round + 1, st);
    }
    if (opt.round_delay_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(opt.round_delay_ms));
    if (cfg.time_limit > 0 && run.dist.max(wall.seconds() >= cfg.time_limit ? 1 : 0)) {
      result.stopped_early = round + 1 < cfg.rounds;
      break;
    }
  }
  if (bar) bar->finish();
  if (result.rounds_done == 0) result.rounds_done = run.round0;
  return result;
}

}  // namespace veritas::selfplay
