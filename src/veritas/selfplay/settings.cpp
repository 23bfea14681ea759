// Self-play's settings (flags <-> the JSON saved in every checkpoint, validation) and its
// energy meter; the loop that uses them is loop.cpp.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>

#include "veritas/selfplay/loop.hpp"
#include "veritas/util/error.hpp"

namespace veritas::selfplay {

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
          {"time_limit", time_limit},
          {"prompt", prompt},
          {"train_layers", train_layers},
          {"context", context},
          {"device", device},
          {"sample_device", sample_device}};
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
    // Added later: runs saved before them have none.
    c.prompt = j.value("prompt", std::string());
    c.train_layers = j.value("train_layers", 0);
    c.context = j.value("context", 0);
    c.device = j.value("device", std::string("cpu"));
    c.sample_device = j.value("sample_device", std::string());
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
  check(train_layers >= 0, "--train-layers must not be negative");
  check(context >= 0, "--context must not be negative");
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

}  // namespace veritas::selfplay
