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
#include <set>
#include <thread>

#include "veritas/infer/engine.hpp"
#include "veritas/model/model.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/train/trainer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/svg.hpp"
#include "veritas/util/timer.hpp"

namespace veritas::selfplay {

namespace fs = std::filesystem;
using nlohmann::json;

// ------------------------------------------------------------------ config

json SelfPlayConfig::to_json() const {
  return {{"model_dir", model_dir},
          {"out_dir", out_dir},
          {"suites", suites},
          {"rounds", rounds},
          {"questions", questions},
          {"k", k},
          {"algo", algo},
          {"reward", {{"correct", reward.correct}, {"abstain", reward.abstain}, {"wrong_penalty", reward.wrong_penalty},
                      {"malformed", reward.malformed}, {"brier_weight", reward.brier_weight}}},
          {"clip_eps", loss.clip_eps},
          {"kl_beta", loss.kl_beta},
          {"lr", lr},
          {"weight_decay", weight_decay},
          {"epochs", epochs},
          {"micro_batch", micro_batch},
          {"max_tokens", max_tokens},
          {"temperature", temperature},
          {"band", {curriculum.band_lo, curriculum.band_hi}},
          {"levels", {curriculum.min_level, curriculum.max_level}},
          {"start_level", start_level},
          {"proposer", proposer},
          {"proposals", proposals},
          {"proposal_max_digits", proposal_max_digits},
          {"proposer_weight", proposer_weight},
          {"lang", lang},
          {"precision", precision},
          {"seed", seed},
          {"watts_per_core", watts_per_core},
          {"time_limit", time_limit}};
}

SelfPlayConfig SelfPlayConfig::from_json(const json& j) {
  SelfPlayConfig c;
  try {
    c.model_dir = j.at("model_dir");
    c.out_dir = j.at("out_dir");
    c.suites = j.at("suites").get<std::vector<std::string>>();
    c.rounds = j.at("rounds");
    c.questions = j.at("questions");
    c.k = j.at("k");
    c.algo = j.at("algo");
    const auto& r = j.at("reward");
    c.reward = {r.at("correct"), r.at("abstain"), r.at("wrong_penalty"), r.at("malformed"), r.at("brier_weight")};
    c.loss = {j.at("clip_eps"), j.at("kl_beta")};
    c.lr = j.at("lr");
    c.weight_decay = j.at("weight_decay");
    c.epochs = j.at("epochs");
    c.micro_batch = j.at("micro_batch");
    c.max_tokens = j.at("max_tokens");
    c.temperature = j.at("temperature");
    c.curriculum.band_lo = j.at("band").at(0);
    c.curriculum.band_hi = j.at("band").at(1);
    c.curriculum.min_level = j.at("levels").at(0);
    c.curriculum.max_level = j.at("levels").at(1);
    c.start_level = j.at("start_level");
    c.proposer = j.at("proposer");
    c.proposals = j.at("proposals");
    c.proposal_max_digits = j.at("proposal_max_digits");
    c.proposer_weight = j.at("proposer_weight");
    c.lang = j.at("lang");
    c.precision = j.at("precision");
    c.seed = j.at("seed");
    c.watts_per_core = j.at("watts_per_core");
    c.time_limit = j.at("time_limit");
  } catch (const json::exception& e) {
    throw Error(std::string("self-play settings: ") + e.what());
  }
  return c;
}

void SelfPlayConfig::validate() const {
  check(!model_dir.empty(), "--model is required");
  check(!out_dir.empty(), "-o/--out is required");
  check(!suites.empty(), "choose at least one suite");
  const auto& known = selfplay_suites();
  for (const auto& s : suites)
    check(std::find(known.begin(), known.end(), s) != known.end(), "unknown self-play suite '" + s + "'");
  check(rounds >= 0, "--rounds must not be negative");
  check(questions >= 0, "--questions must not be negative");
  check(k >= 2, "--k must be at least 2 (advantages compare samples of one question)");
  check(algo == "grpo" || algo == "expert", "--algo must be grpo or expert");
  check(reward.wrong_penalty >= 0, "--lambda must not be negative");
  check(reward.brier_weight >= 0, "--brier must not be negative");
  check(loss.clip_eps > 0 && loss.clip_eps < 1, "--clip must lie in (0, 1)");
  check(loss.kl_beta >= 0, "--kl must not be negative");
  check(lr > 0 && std::isfinite(lr), "--lr must be positive");
  check(epochs >= 1, "--epochs must be at least 1");
  check(micro_batch >= 1, "--micro-batch must be at least 1");
  check(max_tokens >= 1, "--max-tokens must be at least 1");
  check(temperature > 0, "--temperature must be positive (self-play needs varied samples)");
  check(curriculum.band_lo >= 0 && curriculum.band_lo < curriculum.band_hi && curriculum.band_hi <= 1,
        "the learnability band must satisfy 0 <= low < high <= 1");
  check(curriculum.min_level >= 1 && curriculum.min_level <= curriculum.max_level, "levels must satisfy 1 <= min <= max");
  check(start_level >= curriculum.min_level && start_level <= curriculum.max_level, "--start-level must lie within the levels");
  check(proposer == "curriculum" || proposer == "model" || proposer == "both", "--proposer must be curriculum, model or both");
  check(proposer == "curriculum" || proposals >= 2, "--proposals must be at least 2 with a model proposer");
  check(proposal_max_digits >= 1, "--proposal-max-digits must be at least 1");
  check(lang == "en" || lang == "zh" || lang == "mix", "--lang must be en, zh or mix");
  check(watts_per_core > 0, "--watts-per-core must be positive");
  check(time_limit >= 0, "--time-limit must not be negative");
  check(questions > 0 || proposer != "curriculum", "no questions: set --questions or use a model proposer");
}

// ------------------------------------------------------------------ energy

namespace {

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Sum of the package domains' energy counters in joules, or -1 when unreadable.
double read_rapl() {
  double total = 0;
  bool any = false;
  for (int i = 0; i < 8; ++i) {
    std::ifstream f("/sys/class/powercap/intel-rapl:" + std::to_string(i) + "/energy_uj");
    double uj = 0;
    if (!(f >> uj)) continue;
    total += uj * 1e-6;
    any = true;
  }
  return any ? total : -1;
}

}  // namespace

EnergyMeter::EnergyMeter(double watts_per_core) : watts_(watts_per_core) {
  rapl_start_ = read_rapl();
  rapl_ = rapl_start_ >= 0;
  cpu_start_ = process_cpu_seconds();
}

double EnergyMeter::cpu_seconds() const { return process_cpu_seconds() - cpu_start_; }

double EnergyMeter::joules() const {
  if (rapl_) {
    const double now = read_rapl();
    if (now >= rapl_start_) return now - rapl_start_;  // a counter wrap falls back to the estimate
  }
  return cpu_seconds() * watts_;
}

// ------------------------------------------------------------------ the loop

namespace {

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e019ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

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

infer::Engine engine_from_model(Model& model, const ModelConfig& cfg, std::shared_ptr<const Tokenizer> tok,
                                const std::string& precision, int context) {
  std::map<std::string, const Param*> byname;
  for (const auto& p : model.params()) byname[p.name] = &p;
  infer::EngineOptions eo;
  eo.precision = infer::parse_precision(precision);
  eo.context = context;
  eo.load_tokenizer = false;
  infer::Engine e = infer::Engine::from_weights(
      cfg,
      [&](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
        auto it = byname.find(name);
        if (it == byname.end()) return false;
        check(it->second->shape == shape, "self-play: tensor " + name + " has an unexpected shape");
        std::copy(it->second->data, it->second->data + it->second->size, dst);
        return true;
      },
      eo);
  e.set_tokenizer(std::move(tok));
  return e;
}

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

}  // namespace

SelfPlayResult run_selfplay(SelfPlayConfig cfg, const SelfPlayOptions& opt) {
  const fs::path out = cfg.out_dir;
  const bool has_run = fs::exists(out / "checkpoint") || fs::exists(out / "checkpoint.old");
  if (opt.resume) {
    // The saved settings win (the run must go on as it began); only the rounds may grow.
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
    cfg = SelfPlayConfig::from_json(extra.at("config"));
    cfg.rounds = std::max(cfg.rounds, want_rounds);
  } else {
    check(!has_run, out.string() + " already holds a self-play run: pass --resume to continue it, or choose another folder");
  }
  cfg.validate();

  // The trainer: AdamW at a constant learning rate on the starting checkpoint's weights.
  const fs::path start = find_checkpoint(cfg.model_dir);
  check(fs::exists(start / "tokenizer.json"), start.string() + " has no tokenizer.json: self-play needs one");
  auto tok = std::make_shared<const Tokenizer>(Tokenizer::load(start / "tokenizer.json"));
  const ModelConfig mcfg = ModelConfig::load(start / "config.json");
  const int context = (int)std::min<int64_t>(mcfg.max_position_embeddings, 1 << 14);
  TrainConfig tc;
  tc.init_from = start.string();
  tc.tokenizer = (start / "tokenizer.json").string();
  tc.out_dir = cfg.out_dir;
  tc.batch = cfg.micro_batch;
  tc.seq = context;
  tc.lr = cfg.lr;
  tc.min_lr = cfg.lr;
  tc.warmup = 0;
  tc.steps = std::max<int64_t>(1, (int64_t)cfg.rounds * cfg.epochs);
  tc.adamw.weight_decay = cfg.weight_decay;
  tc.seed = cfg.seed;
  Trainer trainer(tc);

  int round0 = 0;
  json rounds = json::array();
  std::map<std::string, int> level;
  for (const auto& s : cfg.suites) level[s] = cfg.start_level;
  if (opt.resume) {
    trainer.load_checkpoint(out);
    const json& extra = trainer.extra_state();
    try {
      round0 = extra.at("round").get<int>();
      rounds = extra.at("rounds");
      for (auto it = extra.at("levels").begin(); it != extra.at("levels").end(); ++it) level[it.key()] = it.value();
    } catch (const json::exception& e) {
      throw Error(out.string() + ": malformed self-play state: " + e.what());
    }
  }
  fs::create_directories(out);

  const auto chat_end = tok->token_id("<|end|>");
  check(chat_end.has_value(), "the tokenizer has no <|end|> token: self-play needs the chat template");

  // The starting model, for the KL term.
  std::unique_ptr<Model> ref;
  if (cfg.loss.kl_beta > 0) {
    ref = std::make_unique<Model>(mcfg, cfg.micro_batch, context);
    ref->load(start / "model.safetensors");
  }

  SelfPlayResult result;
  result.rounds = rounds;
  EnergyMeter meter(cfg.watts_per_core);
  double joules_before = rounds.empty() ? 0.0 : rounds.back().value("total_joules", 0.0);
  int64_t tokens_before = rounds.empty() ? 0 : rounds.back().value("total_tokens", (int64_t)0);
  double seconds_before = rounds.empty() ? 0.0 : rounds.back().value("total_seconds", 0.0);
  Timer wall;
  std::optional<Progress> bar;
  if (opt.progress) bar.emplace("selfplay", cfg.rounds, "round");
  if (bar) bar->update(round0);

  for (int round = round0; round < cfg.rounds; ++round) {
    if (opt.should_stop && opt.should_stop()) {
      result.stopped_early = true;
      break;
    }
    Timer rt;
    const double j0 = meter.joules(), cpu0 = meter.cpu_seconds();
    const uint64_t rseed = mix_seed(cfg.seed, (uint64_t)round);
    infer::Engine engine = engine_from_model(trainer.model(), mcfg, tok, cfg.precision, context);
    infer::SamplingOptions so;
    so.temperature = (float)cfg.temperature;
    so.max_tokens = cfg.max_tokens;
    so.stop_at_end_tokens = false;
    so.stop_tokens = {*chat_end};
    double t_gen = 0, t_verify = 0;
    int64_t gen_tokens = 0, prompt_tokens = 0;

    // ---- propose
    std::vector<Task> tasks;
    std::vector<std::string> task_source;  // suite name, or "proposed"
    for (size_t si = 0; si < cfg.suites.size() && cfg.proposer != "model"; ++si) {
      const auto& s = cfg.suites[si];
      for (auto& t : curriculum_tasks(s, level[s], cfg.questions, mix_seed(rseed, si), cfg.lang)) {
        tasks.push_back(std::move(t));
        task_source.push_back(s);
      }
    }
    json prop = json::object();
    std::vector<int> proposal_task(cfg.proposals, -1);  // index into tasks, or -1
    std::vector<std::string> proposal_reject(cfg.proposals);
    std::vector<int32_t> proposer_prompt;
    std::vector<infer::Generation> proposals;
    if (cfg.proposer != "curriculum") {
      const std::string plang = cfg.lang == "zh" ? "zh" : "en";
      proposer_prompt = chat_tokens(*tok, {{"user", proposer_instruction(plang)}}, true);
      infer::SamplingOptions po = so;
      po.max_tokens = 64;
      po.seed = mix_seed(rseed, 0x70726f70);
      Timer tg;
      proposals = engine.generate_k(proposer_prompt, cfg.proposals, po);
      t_gen += tg.seconds();
      prompt_tokens += (int64_t)proposer_prompt.size();
      std::set<std::string> seen;
      for (int i = 0; i < cfg.proposals; ++i) {
        gen_tokens += (int64_t)proposals[i].tokens.size();
        ProposalCheck pc = check_proposal(proposals[i].text, cfg.proposal_max_digits,
                                          "proposed-" + std::to_string(round) + "-" + std::to_string(i));
        if (pc.task && !seen.insert(pc.task->question).second) pc = {std::nullopt, "duplicate"};
        if (!pc.task) {
          proposal_reject[i] = pc.reject;
          continue;
        }
        proposal_task[i] = (int)tasks.size();
        tasks.push_back(std::move(*pc.task));
        task_source.push_back("proposed");
      }
    }

    // ---- solve and verify
    std::vector<Sample> samples;
    std::vector<std::vector<int32_t>> prompts(tasks.size());
    int skipped = 0;
    std::optional<Progress> qbar;
    if (opt.progress && tasks.size() >= 8)
      qbar.emplace("round " + std::to_string(round + 1) + "/" + std::to_string(cfg.rounds), (int64_t)tasks.size(), "q");
    for (size_t i = 0; i < tasks.size(); ++i) {
      prompts[i] = chat_tokens(*tok, {{"user", tasks[i].question}}, true);
      if ((int)prompts[i].size() + cfg.max_tokens + 1 > context) {
        ++skipped;  // cannot fit: not asked (counted)
        continue;
      }
      so.seed = mix_seed(rseed, 1000003ULL * (i + 1));
      Timer tg;
      auto gens = engine.generate_k(prompts[i], cfg.k, so);
      t_gen += tg.seconds();
      prompt_tokens += (int64_t)prompts[i].size();
      Timer tv;
      for (auto& g : gens) {
        Sample s;
        s.task = i;
        gen_tokens += (int64_t)g.tokens.size();
        s.completion = std::move(g.tokens);
        if (g.finish == infer::FinishReason::Stop) s.completion.push_back(*chat_end);
        s.text = std::move(g.text);
        s.score = verify(tasks[i], s.text);
        s.reward = reward(s.score, cfg.reward);
        samples.push_back(std::move(s));
      }
      t_verify += tv.seconds();
      if (qbar) qbar->add(1);
    }
    if (qbar) qbar->finish();

    // ---- statistics and advantages
    Timer tu;
    std::map<std::string, std::array<int64_t, 5>> per;  // correct, wrong, abstained, malformed, n
    std::map<std::string, std::array<int64_t, 2>> per_difficulty;  // "suite:digits" -> correct, n
    int64_t counts[4] = {0, 0, 0, 0};
    double reward_sum = 0;
    int groups = 0, zero_var = 0;
    std::vector<TrainSeq> seqs;
    std::vector<double> task_solve(tasks.size(), -1.0);
    for (size_t b = 0; b < samples.size(); b += cfg.k) {
      const size_t ti = samples[b].task;
      std::vector<double> rw;
      int correct = 0;
      for (int j = 0; j < cfg.k; ++j) {
        const Sample& s = samples[b + j];
        rw.push_back(s.reward);
        reward_sum += s.reward;
        const int v = (int)s.score.verdict;
        counts[v]++;
        auto& pc = per[task_source[ti]];
        pc[v]++;
        pc[4]++;
        correct += s.score.verdict == Verdict::Correct;
        const auto& dj = tasks[ti].difficulty;
        if (dj.is_object() && dj.contains("digits") && dj["digits"].is_number_integer()) {
          auto& pd = per_difficulty[task_source[ti] + ":" + std::to_string(dj["digits"].get<int>())];
          pd[0] += s.score.verdict == Verdict::Correct;
          pd[1]++;
        }
      }
      task_solve[ti] = (double)correct / cfg.k;
      ++groups;
      const auto adv = group_advantages(rw);
      bool all_zero = std::all_of(adv.begin(), adv.end(), [](double a) { return a == 0; });
      if (all_zero) ++zero_var;
      for (int j = 0; j < cfg.k; ++j) {
        const Sample& s = samples[b + j];
        if (s.completion.empty()) continue;
        TrainSeq ts;
        ts.tokens = prompts[ti];
        ts.prompt_len = (int)ts.tokens.size();
        ts.tokens.insert(ts.tokens.end(), s.completion.begin(), s.completion.end());
        if (cfg.algo == "grpo") {
          if (all_zero) continue;
          ts.advantage = adv[j];
          ts.policy = true;
        } else {
          if (s.score.verdict != Verdict::Correct) continue;
          ts.policy = false;
        }
        seqs.push_back(std::move(ts));
      }
    }
    const int64_t n_samples = (int64_t)samples.size();
    // Solver weights: the mean over samples of the mean over each sample's tokens
    // (GRPO); expert iteration: the mean over all verified-correct completion tokens.
    {
      double denom = 0;
      for (const auto& s : seqs) denom += s.policy ? 1.0 : (double)(s.tokens.size() - s.prompt_len);
      for (auto& s : seqs) {
        const double len = (double)(s.tokens.size() - s.prompt_len);
        s.weight = s.policy ? 1.0 / (std::max<double>(1, n_samples) * len) : 1.0 / denom;
      }
    }

    // The proposer's policy gradient: learnability reward, advantages across the round's proposals.
    if (!proposals.empty()) {
      std::vector<double> prw(cfg.proposals, 0.0);
      int valid = 0, learnable = 0;
      std::map<std::string, int> rejects;
      for (int i = 0; i < cfg.proposals; ++i) {
        if (proposal_task[i] < 0) {
          prw[i] = -1.0;  // the verifier could not settle it
          rejects[proposal_reject[i]]++;
          continue;
        }
        ++valid;
        const double sr = task_solve[proposal_task[i]];
        prw[i] = sr < 0 ? 0.0 : learnability(sr);
        learnable += prw[i] > 0;
      }
      const auto adv = group_advantages(prw);
      double mean = 0;
      for (double r : prw) mean += r;
      prop = {{"proposed", cfg.proposals}, {"valid", valid}, {"learnable", learnable},
              {"rejected", rejects}, {"mean_reward", mean / cfg.proposals}};
      for (int i = 0; i < cfg.proposals; ++i) {
        if (adv[i] == 0) continue;
        TrainSeq ts;
        ts.tokens = proposer_prompt;
        ts.prompt_len = (int)ts.tokens.size();
        ts.tokens.insert(ts.tokens.end(), proposals[i].tokens.begin(), proposals[i].tokens.end());
        if (proposals[i].finish == infer::FinishReason::Stop) ts.tokens.push_back(*chat_end);
        if ((int)ts.tokens.size() == ts.prompt_len) continue;
        ts.advantage = adv[i];
        ts.weight = cfg.proposer_weight / ((double)cfg.proposals * (double)(ts.tokens.size() - ts.prompt_len));
        ts.policy = true;
        seqs.push_back(std::move(ts));
      }
    }

    // ---- update
    Model& model = trainer.model();
    int64_t trained_tokens = 0;
    double loss_sum = 0, grad_norm = 0, clipped = 0, kl = 0;
    if (!seqs.empty()) {
      // The starting model's log-probabilities, once (for the KL term).
      if (ref)
        for_micro_batches(seqs, cfg.micro_batch, [&](auto& in, auto& tg, int B, int T, size_t first) {
          std::vector<float> rp((size_t)B * T);
          ref->token_logprobs(in.data(), tg.data(), B, T, rp.data());
          for (int b = 0; b < B; ++b)
            seqs[first + b].ref_logp.assign(rp.begin() + (size_t)b * T, rp.begin() + (size_t)(b + 1) * T);
        });
      for (int epoch = 0; epoch < cfg.epochs; ++epoch) {
        double loss = 0, clip_w = 0, kl_w = 0;
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
              trained_tokens++;
            }
          }
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
            clip_w += st.clipped;
            kl_w += st.kl;
            return st.loss + ce;
          });
        });
        StepStats ss = trainer.apply_gradients(loss, trained_tokens);
        loss_sum = loss;
        grad_norm = ss.grad_norm;
        clipped = clip_w;
        kl = kl_w;
      }
    }
    const double t_update = tu.seconds();

    // ---- curriculum, logs, checkpoint
    json js = json::object();
    for (const auto& s : cfg.suites) {
      auto it = per.find(s);
      std::array<int64_t, 5> c = it == per.end() ? std::array<int64_t, 5>{0, 0, 0, 0, 0} : it->second;
      const double sr = c[4] ? (double)c[0] / c[4] : 0.0;
      js[s] = {{"level", level[s]}, {"solve_rate", sr}, {"correct", c[0]}, {"wrong", c[1]}, {"abstained", c[2]},
               {"malformed", c[3]}, {"samples", c[4]}};
      if (c[4] && (s == "add" || s == "mul" || s == "arith")) level[s] = adjust_level(level[s], sr, cfg.curriculum);
    }
    json jd = json::object();  // solve rate by suite and digits, e.g. "add:3"
    for (auto& [key, c] : per_difficulty) jd[key] = {{"solve_rate", (double)c[0] / c[1]}, {"samples", c[1]}};
    if (per.count("proposed")) {
      auto c = per["proposed"];
      prop["solver"] = {{"solve_rate", c[4] ? (double)c[0] / c[4] : 0.0}, {"samples", c[4]}};
    }
    const double ns = std::max<double>(1, (double)n_samples);
    const double joules = meter.joules() - j0, cpu = meter.cpu_seconds() - cpu0;
    const double secs = rt.seconds();
    const int64_t tok_round = gen_tokens + prompt_tokens + 3 * trained_tokens;  // forward + backward ~ 3 passes
    json r = {{"round", round + 1},
              {"questions", (int64_t)tasks.size() - skipped},
              {"skipped", skipped},
              {"samples", n_samples},
              {"mean_reward", reward_sum / ns},
              {"correct_rate", counts[0] / ns},
              {"wrong_rate", counts[1] / ns},
              {"abstain_rate", counts[2] / ns},
              {"malformed_rate", counts[3] / ns},
              {"zero_variance_share", groups ? (double)zero_var / groups : 0.0},
              {"suites", js},
              {"difficulty", jd},
              {"proposer", prop},
              {"loss", loss_sum},
              {"grad_norm", grad_norm},
              {"clipped_share", clipped},
              {"kl", kl},
              {"trained_sequences", (int64_t)seqs.size()},
              {"tokens_generated", gen_tokens},
              {"tokens_prompt", prompt_tokens},
              {"tokens_trained", trained_tokens},
              {"seconds", secs},
              {"seconds_generate", t_gen},
              {"seconds_verify", t_verify},
              {"seconds_update", t_update},
              {"cpu_seconds", cpu},
              {"joules", joules},
              {"energy_source", meter.source()},
              {"total_tokens", tokens_before + tok_round},
              {"total_joules", joules_before + joules},
              {"total_seconds", seconds_before + secs}};
    seconds_before += secs;
    joules_before += joules;
    tokens_before += tok_round;
    rounds.push_back(r);

    json lv = json::object();
    for (auto& [s, l] : level) lv[s] = l;
    trainer.set_extra_state({{"format", "veritas-selfplay"}, {"round", round + 1}, {"levels", lv},
                             {"rounds", rounds}, {"config", cfg.to_json()}});
    trainer.save_checkpoint(out);
    write_outputs(out, rounds, cfg.suites);
    {
      std::string lines;
      for (const auto& s : samples)
        lines += json({{"round", round + 1}, {"task", tasks[s.task].id}, {"question", tasks[s.task].question},
                       {"answer", s.text}, {"verdict", verdict_name(s.score.verdict)}, {"reward", s.reward}})
                     .dump(-1, ' ', false, json::error_handler_t::replace) +
                 "\n";
      atomic_write_file(out / "samples.jsonl", lines);
    }
    result.rounds = rounds;
    result.rounds_done = round + 1;
    if (bar) {
      char st[160];
      std::snprintf(st, sizeof st, "reward %.3f correct %.2f wrong %.2f abstain %.2f", r["mean_reward"].get<double>(),
                    r["correct_rate"].get<double>(), r["wrong_rate"].get<double>(), r["abstain_rate"].get<double>());
      bar->update(round + 1, st);
    }
    if (opt.round_delay_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(opt.round_delay_ms));
    if (cfg.time_limit > 0 && wall.seconds() >= cfg.time_limit) {
      result.stopped_early = round + 1 < cfg.rounds;
      break;
    }
  }
  if (bar) bar->finish();
  if (result.rounds_done == 0) result.rounds_done = round0;
  return result;
}

}  // namespace veritas::selfplay
