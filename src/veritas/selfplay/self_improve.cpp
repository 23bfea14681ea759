// The rounds of self-improvement (self_improve.hpp); settings and filters are in
// self_improve_parts.cpp.
#include "veritas/selfplay/self_improve.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "veritas/infer/engine.hpp"
#include "veritas/kernels/kernels.hpp"
#include "veritas/selfplay/loop.hpp"
#include "veritas/selfplay/model_engine.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/train/sft.hpp"
#include "veritas/train/trainer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/svg.hpp"
#include "veritas/util/timer.hpp"

namespace veritas::selfplay {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Self-improvement's seeds (the salt keeps them apart from the self-play loop's).
uint64_t mix(uint64_t a, uint64_t b) { return mix_seed(a, b, 0x2545f4914f6cdd1dULL); }

// Longest answer worth sampling at `digits` digits: the reversed format writes about one
// token per digit, the marked one two (mark, digit), the column format one line of ~20
// tokens per column.
int answer_budget(const std::string& format, int digits) {
  if (format == "reversed") return digits + 12;
  if (format == "marked" || format == "shuffled" || format == "tagged") return 2 * digits + 14;
  if (format == "ranged") return 2 * digits + 22;  // and "Places c to h."
  return 24 * (digits + 2) + 16;
}

struct State {
  SelfImproveConfig cfg;
  fs::path out;
  std::shared_ptr<const Tokenizer> tok;
  ModelConfig mcfg;
  int context = 0;
  int32_t chat_end = 0;
  std::unique_ptr<Trainer> trainer;
  std::vector<SftPair> demos;
  std::vector<SftPair> kept;  // every round's self-labelled answers, in order
  std::vector<int> kept_level;  // the digits of each kept answer's problem
  int round0 = 0;
  int level = 0;
  json history = json::array();
};

SftPair pair_of(const std::string& question, const std::string& answer) {
  SftPair p;
  p.messages = {{"user", question}};
  p.answer = answer;
  return p;
}

// Greedy accuracy on `eval_n` test questions per length.
json evaluate_lengths(State& st, infer::Engine& engine) {
  const auto& c = st.cfg;
  json acc = json::object();
  for (int n : c.eval_lengths) {
    const auto tasks = improve_tasks(c.op, c.format, n, c.eval_n, 777 + (uint64_t)n, "test");
    int right = 0, asked = 0;
    for (const auto& t : tasks) {
      const auto prompt = chat_tokens(*st.tok, {{"user", t.question}}, true);
      infer::SamplingOptions so;
      so.temperature = 0;
      so.max_tokens = answer_budget(c.format, n);
      so.stop_tokens = {st.chat_end};
      if ((int)prompt.size() + so.max_tokens + 1 > st.context) continue;  // cannot fit: not asked
      ++asked;
      right += verify(t, engine.generate(prompt, so).text).verdict == Verdict::Correct;
    }
    acc[std::to_string(n)] = asked ? (double)right / asked : 0.0;
  }
  return acc;
}

// One round's problems: at the current level, and a `lookahead` share one digit above it.
// k samples each, then the filter. The level's rates count its own problems only.
json sample_and_filter(State& st, infer::Engine& engine, int round, std::vector<SftPair>& fresh,
                       std::vector<int>& fresh_level) {
  const auto& c = st.cfg;
  const uint64_t rseed = mix(c.seed, (uint64_t)round);
  const int ahead_level = std::min(st.level + 1, c.max_level);
  const int n_ahead = ahead_level > st.level ? (int)std::lround(c.questions * c.lookahead) : 0;
  auto tasks = improve_tasks(c.op, c.format, st.level, c.questions - n_ahead, rseed, "train");
  const size_t n_level = tasks.size();
  for (auto& t : improve_tasks(c.op, c.format, ahead_level, n_ahead, mix(rseed, 0x61686561ULL), "train"))
    tasks.push_back(std::move(t));
  int64_t samples = 0, correct = 0, kept_right = 0, skipped = 0, agreed = 0;
  int64_t ahead_samples = 0, ahead_correct = 0;
  json lines = json::array();
  for (size_t i = 0; i < tasks.size(); ++i) {
    const bool at_level = i < n_level;
    const int digits = at_level ? st.level : ahead_level;
    const auto prompt = chat_tokens(*st.tok, {{"user", tasks[i].question}}, true);
    infer::SamplingOptions so;
    so.temperature = (float)c.temperature;
    so.max_tokens = answer_budget(c.format, digits);
    so.stop_tokens = {st.chat_end};
    if (c.end_bias != 0) so.logit_bias = {{st.chat_end, (float)c.end_bias}};
    so.seed = mix(rseed, 1000003ULL * (i + 1));
    if ((int)prompt.size() + so.max_tokens + 1 > st.context) {
      skipped += at_level;
      continue;
    }
    std::vector<std::string> answers;
    for (auto& g : engine.generate_k(prompt, c.k, so)) answers.push_back(std::move(g.text));
    int64_t right_here = 0;
    for (const auto& a : answers) right_here += verify(tasks[i], a).verdict == Verdict::Correct;
    (at_level ? correct : ahead_correct) += right_here;
    (at_level ? samples : ahead_samples) += (int64_t)answers.size();
    const std::optional<size_t> pick =
        c.filter == "verifier" ? verifier_pick(tasks[i], answers) : majority_pick(answers, c.majority_share);
    if (c.filter == "majority" && at_level) agreed += pick.has_value();
    if (!pick) continue;
    // Whether a kept answer is right is logged, never used by the majority filter.
    const bool right = verify(tasks[i], answers[*pick]).verdict == Verdict::Correct;
    kept_right += right;
    fresh.push_back(pair_of(tasks[i].question, answers[*pick]));
    fresh_level.push_back(digits);
    lines.push_back({{"messages", {{{"role", "user"}, {"content", tasks[i].question}},
                                   {{"role", "assistant"}, {"content", answers[*pick]}}}},
                     {"level", digits},
                     {"correct", right}});
  }
  std::string text;
  for (const auto& l : lines) text += l.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  fs::create_directories(st.out / "data");
  atomic_write_file(st.out / "data" / ("round-" + std::to_string(round + 1) + ".jsonl"), text);
  const int64_t asked = (int64_t)n_level - skipped;
  const double solve = samples ? (double)correct / (double)samples : 0.0;
  const double agree = asked ? (double)agreed / (double)asked : 0.0;
  json r = {{"asked", asked},
            {"skipped", skipped},
            {"solve_rate", solve},
            {"agreement_rate", agree},
            {"kept", (int64_t)fresh.size()},
            {"kept_correct", kept_right},
            // What moves the level: the verifier's verdicts, or (majority) the model's own consensus.
            {"advance_rate", c.filter == "verifier" ? solve : agree}};
  if (n_ahead > 0) {
    r["ahead_level"] = ahead_level;
    r["ahead_asked"] = n_ahead;
    r["ahead_solve_rate"] = ahead_samples ? (double)ahead_correct / (double)ahead_samples : 0.0;
  }
  return r;
}

// The round's training set: every kept answer so far and distinct demonstrations, enough
// for `demo_share` of the round's draws and at least demo_share of the set. While few
// answers are kept they are drawn rarely, so the model does not overfit a handful of them.
// With `frontier_share`, the answers at the current level or above get that share of the
// draws (as copies), within kFrontierMaxDraws draws each.
std::vector<SftPair> training_set(const State& st, int round) {
  const auto& c = st.cfg;
  if (st.kept.empty()) return st.demos;
  std::vector<SftPair> set;
  std::vector<size_t> frontier;
  for (size_t i = 0; i < st.kept.size(); ++i) {
    if (c.frontier_share > 0 && st.kept_level[i] >= st.level) frontier.push_back(i);
    else set.push_back(st.kept[i]);
  }
  const double draws = (double)c.steps * c.batch;
  size_t want = (size_t)(std::max((double)st.kept.size() * c.demo_share / (1.0 - c.demo_share), draws * c.demo_share) + 0.5);
  want = std::min(want, st.demos.size());
  std::vector<size_t> idx(st.demos.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  Rng rng(mix(c.seed ^ 0x64656d6fULL, (uint64_t)round));
  for (size_t i = 0; i < want; ++i) std::swap(idx[i], idx[i + rng.below(idx.size() - i)]);
  for (size_t i = 0; i < want; ++i) set.push_back(st.demos[idx[i]]);
  const int copies = frontier_copies(frontier.size(), set.size(), c.frontier_share, draws);
  for (size_t i : frontier)
    for (int k = 0; k < copies; ++k) set.push_back(st.kept[i]);
  return set;
}

void write_outputs(const State& st) {
  std::string lines;
  for (const auto& r : st.history) lines += r.dump() + "\n";
  atomic_write_file(st.out / "rounds.jsonl", lines);
  Chart ch;
  ch.title = "Self-improvement: greedy accuracy per length after each round";
  ch.xlabel = "digits";
  ch.ylabel = "accuracy";
  for (const auto& r : st.history) {
    Series s;
    s.name = "round " + std::to_string(r["round"].get<int>());
    for (auto it = r["accuracy"].begin(); it != r["accuracy"].end(); ++it) {
      s.x.push_back(std::stod(it.key()));
      s.y.push_back(it.value().get<double>());
    }
    ch.series.push_back(std::move(s));
  }
  ch.ymin = 0;
  ch.ymax = 1;
  atomic_write_file(st.out / "accuracy.svg", ch.to_svg());
}

void save(State& st, int round) {
  st.trainer->set_extra_state({{"format", "veritas-self-improve"}, {"round", round}, {"level", st.level},
                               {"rounds", st.history}, {"config", st.cfg.to_json()}});
  st.trainer->save_checkpoint(st.out);
  write_outputs(st);
}

void start(State& st, const SelfImproveOptions& opt) {
  SelfImproveConfig& cfg = st.cfg;
  const bool has_run = fs::exists(st.out / "checkpoint") || fs::exists(st.out / "checkpoint.old");
  json extra;
  if (opt.resume) {
    check(has_run, st.out.string() + " holds no self-improvement checkpoint to resume");
    const fs::path state = find_checkpoint(st.out) / "train_state.json";
    json sj;
    try {
      sj = json::parse(read_file(state));
    } catch (const json::exception& e) {
      throw Error(state.string() + ": invalid JSON (truncated or corrupt?): " + e.what());
    }
    extra = sj.value("extra", json());
    check(extra.is_object() && extra.value("format", "") == "veritas-self-improve",
          st.out.string() + ": the checkpoint is not a self-improvement checkpoint");
    const int want = cfg.rounds;
    // Checkpoints are the same files on every device.
    const std::string device = cfg.device, sample_device = cfg.sample_device;
    cfg = SelfImproveConfig::from_json(extra.at("config"));
    if (want >= 0) cfg.rounds = std::max(cfg.rounds, want);  // < 0: the saved total
    cfg.device = device, cfg.sample_device = sample_device;
    if (opt.end_bias) cfg.end_bias = *opt.end_bias;
    if (opt.threads) cfg.threads = *opt.threads;
    cfg.out_dir = st.out.string();  // the folder resumed, which may have been moved or copied
  } else {
    check(!has_run, st.out.string() + " already holds a run: pass --resume to continue it, or choose another folder");
  }
  if (cfg.eval_lengths.empty())
    for (int n = 1; n <= 32; ++n) cfg.eval_lengths.push_back(n);
  cfg.validate();
  kernels::set_cpu_threads(cfg.threads);

  const fs::path from = find_checkpoint(cfg.model_dir);
  check(fs::exists(from / "tokenizer.json"), from.string() + " has no tokenizer.json: self-improvement needs one");
  st.tok = std::make_shared<const Tokenizer>(Tokenizer::load(from / "tokenizer.json"));
  st.mcfg = ModelConfig::load(from / "config.json");
  st.context = (int)std::min<int64_t>(st.mcfg.max_position_embeddings, 1 << 14);
  const auto end = st.tok->token_id("<|end|>");
  check(end.has_value(), "the tokenizer has no <|end|> token: self-improvement needs the chat template");
  st.chat_end = *end;
  if (!cfg.demos.empty()) st.demos = load_sft_jsonl(cfg.demos);
  check(cfg.filter != "none" || !st.demos.empty(), cfg.demos + " holds no demonstrations");

  TrainConfig tc;
  tc.init_from = from.string();
  tc.tokenizer = (from / "tokenizer.json").string();
  tc.out_dir = cfg.out_dir;
  tc.batch = cfg.batch;
  tc.seq = std::min(cfg.seq, (int)st.mcfg.max_position_embeddings);
  tc.lr = cfg.lr;
  tc.min_lr = cfg.lr;
  tc.warmup = 0;
  tc.steps = std::max<int64_t>(1, (int64_t)cfg.rounds * cfg.steps);
  tc.eval_every = 0;
  tc.seed = cfg.seed;
  tc.device = cfg.device;
  st.trainer = std::make_unique<Trainer>(tc);
  st.level = cfg.start_level;
  if (opt.resume) {
    st.trainer->load_checkpoint(st.out);
    try {
      st.round0 = extra.at("round").get<int>();
      st.level = extra.at("level").get<int>();
      st.history = extra.at("rounds");
    } catch (const json::exception& e) {
      throw Error(st.out.string() + ": malformed self-improvement state: " + e.what());
    }
    for (int r = 1; r <= st.round0; ++r) {
      const fs::path f = st.out / "data" / ("round-" + std::to_string(r) + ".jsonl");
      check(cfg.filter == "none" || fs::exists(f), f.string() + " is missing: the run folder is incomplete");
      if (cfg.filter == "none" || fs::file_size(f) == 0) continue;  // a round that kept nothing
      for_each_json_line(f.string(), [&](const json& j, const std::string& where) {
        st.kept.push_back(sft_pair_from_json(j, where));
        check(j.contains("level") && j["level"].is_number_integer(), where + ": no \"level\" (the problem's digits)");
        st.kept_level.push_back(j["level"].get<int>());
      });
    }
  }
  fs::create_directories(st.out);
}

}  // namespace

SelfImproveResult run_self_improve(SelfImproveConfig cfg_in, const SelfImproveOptions& opt) {
  State st;
  st.cfg = std::move(cfg_in);
  st.out = st.cfg.out_dir;
  start(st, opt);
  const SelfImproveConfig& c = st.cfg;
  EnergyMeter meter(c.watts_per_core);
  Timer wall;
  SelfImproveResult res;

  auto engine_now = [&] {
    return engine_from_model(st.trainer->model(), st.mcfg, st.tok, "fp32", st.context,
                             c.sample_device.empty() ? c.device : c.sample_device);
  };
  if (st.history.empty()) {  // round 0: the starting model
    infer::Engine engine = engine_now();
    json r = {{"round", 0}, {"level", st.level}, {"accuracy", evaluate_lengths(st, engine)},
              {"cpu_seconds", meter.cpu_seconds()}, {"joules", meter.joules()}, {"energy_source", meter.source()}};
    r["total_cpu_seconds"] = r["cpu_seconds"];
    r["total_joules"] = r["joules"];
    if (c.start_level == 0) {  // auto: one past the lengths the starting model already solves
      st.level = std::min(reliable_range(r["accuracy"], c.threshold) + 1, c.max_level);
      r["level"] = st.level;
    }
    st.history.push_back(r);
    save(st, 0);
  }
  std::optional<Progress> bar;
  if (opt.progress) bar.emplace("self-improve", c.rounds, "round");
  if (bar) bar->update(st.round0);
  res.rounds_done = st.round0;
  for (int round = st.round0; round < c.rounds; ++round) {
    if (opt.should_stop && opt.should_stop()) {
      res.stopped_early = true;
      break;
    }
    const double cpu0 = meter.cpu_seconds(), j0 = meter.joules();
    json r = {{"round", round + 1}, {"level", st.level}, {"filter", c.filter}};
    if (c.filter != "none") {
      infer::Engine engine = engine_now();
      std::vector<SftPair> fresh;
      std::vector<int> fresh_level;
      r["sampled"] = sample_and_filter(st, engine, round, fresh, fresh_level);
      for (auto& p : fresh) st.kept.push_back(std::move(p));
      st.kept_level.insert(st.kept_level.end(), fresh_level.begin(), fresh_level.end());
    }
    double loss = 0;
    if (c.steps > 0) {
      const auto stats = train_sft(*st.trainer, training_set(st, round), *st.tok, c.steps);
      for (const auto& s : stats) loss += s.loss / (double)stats.size();
    }
    r["train_loss"] = loss;
    r["trained_examples"] = (int64_t)st.kept.size();
    if (c.filter != "none") {
      const double rate = r["sampled"]["advance_rate"].get<double>();
      st.level = next_level(st.level, rate, c.threshold, c.max_level);
    }
    r["next_level"] = st.level;
    {
      infer::Engine engine = engine_now();
      r["accuracy"] = evaluate_lengths(st, engine);
    }
    r["cpu_seconds"] = meter.cpu_seconds() - cpu0;
    r["joules"] = meter.joules() - j0;
    r["energy_source"] = meter.source();
    const json& prev = st.history.back();
    r["total_cpu_seconds"] = prev.value("total_cpu_seconds", 0.0) + r["cpu_seconds"].get<double>();
    r["total_joules"] = prev.value("total_joules", 0.0) + r["joules"].get<double>();
    st.history.push_back(r);
    save(st, round + 1);
    res.rounds_done = round + 1;
    if (bar) {
      char s[96];
      std::snprintf(s, sizeof s, "level %d", st.level);
      bar->update(round + 1, s);
    }
    if (c.time_limit > 0 && wall.seconds() >= c.time_limit && round + 1 < c.rounds) {
      res.stopped_early = true;  // the budget is spent; this round is saved
      break;
    }
  }
  if (bar) bar->finish();
  res.rounds = st.history;
  return res;
}

}  // namespace veritas::selfplay
