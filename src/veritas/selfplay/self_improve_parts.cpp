// Self-improvement's settings (flags <-> the JSON saved in each checkpoint) and its small
// pieces: the two filters, the level rule and the problems; the rounds are self_improve.cpp.
#include <algorithm>
#include <cmath>
#include <map>

#include "veritas/selfplay/self_improve.hpp"
#include "veritas/util/error.hpp"
#include "veritas/verify/answer.hpp"
#include "veritas/verify/demos.hpp"

namespace veritas::selfplay {

using nlohmann::json;

json SelfImproveConfig::to_json() const {
  return {{"model_dir", model_dir},     {"out_dir", out_dir},
          {"demos", demos},             {"op", op},
          {"format", format},           {"filter", filter},
          {"rounds", rounds},           {"questions", questions},
          {"k", k},                     {"temperature", temperature},
          {"end_bias", end_bias},
          {"threshold", threshold},     {"majority_share", majority_share},
          {"start_level", start_level}, {"max_level", max_level},
          {"steps", steps},             {"batch", batch},
          {"seq", seq},                 {"lr", lr},
          {"demo_share", demo_share},   {"eval_lengths", eval_lengths},
          {"lookahead", lookahead},     {"frontier_share", frontier_share},
          {"eval_n", eval_n},           {"seed", seed},
          {"time_limit", time_limit},
          {"watts_per_core", watts_per_core},
          {"device", device},
          {"sample_device", sample_device},
          {"threads", threads}};
}

SelfImproveConfig SelfImproveConfig::from_json(const json& j) {
  SelfImproveConfig c;
  try {
    c.model_dir = j.at("model_dir");
    c.out_dir = j.at("out_dir");
    c.demos = j.at("demos");
    c.op = j.at("op");
    c.format = j.at("format");
    c.filter = j.at("filter");
    c.rounds = j.at("rounds");
    c.questions = j.at("questions");
    c.k = j.at("k");
    c.temperature = j.at("temperature");
    c.threshold = j.at("threshold");
    c.majority_share = j.at("majority_share");
    c.start_level = j.at("start_level");
    c.max_level = j.at("max_level");
    c.steps = j.at("steps");
    c.batch = j.at("batch");
    c.seq = j.at("seq");
    c.lr = j.at("lr");
    c.demo_share = j.at("demo_share");
    c.eval_lengths = j.at("eval_lengths").get<std::vector<int>>();
    c.eval_n = j.at("eval_n");
    c.seed = j.at("seed");
    c.watts_per_core = j.at("watts_per_core");
    c.device = j.value("device", std::string("cpu"));  // added later
    c.sample_device = j.value("sample_device", std::string());
    c.lookahead = j.value("lookahead", 0.0);  // added later: older runs had neither
    c.frontier_share = j.value("frontier_share", 0.0);
    c.end_bias = j.value("end_bias", 0.0);
    c.time_limit = j.value("time_limit", 0.0);
    c.threads = j.value("threads", 0);  // added later: older runs used all threads
  } catch (const json::exception& e) {
    throw Error(std::string("self-improvement settings: ") + e.what());
  }
  return c;
}

void SelfImproveConfig::validate() const {
  check(!model_dir.empty(), "--model is required");
  check(!out_dir.empty(), "-o/--out is required");
  check(op == "add" || op == "mul1", "--op must be add or mul1");
  check(format == "reversed" || format == "marked" || format == "shuffled" || format == "ranged" || format == "tagged" ||
            format == "columns",
        "--format must be reversed, marked, shuffled, ranged, tagged or columns");
  check(filter == "verifier" || filter == "majority" || filter == "none", "--filter must be verifier, majority or none");
  check(rounds >= 0, "--rounds must not be negative");
  check(filter == "none" || questions >= 1, "--questions must be at least 1");
  check(filter == "none" || k >= 1, "--k must be at least 1");
  check(filter != "majority" || k >= 2, "--k must be at least 2 for a majority vote");
  check(temperature >= 0 && std::isfinite(temperature), "--temperature must not be negative");
  check(std::isfinite(end_bias) && std::abs(end_bias) <= 100, "--end-bias must lie in [-100, 100]");
  check(threshold > 0 && threshold <= 1, "--threshold must lie in (0, 1]");
  check(majority_share >= 0 && majority_share < 1, "--majority-share must lie in [0, 1)");
  check(start_level >= 0 && start_level <= max_level && max_level >= 1 && max_level <= 1000,
        "levels must satisfy 0 <= --start-level <= --max-level <= 1000 (0 = auto)");
  check(steps >= 0, "--steps must not be negative");
  check(batch >= 1 && seq >= 8, "--batch must be at least 1 and --seq at least 8");
  check(lr > 0 && std::isfinite(lr), "--lr must be positive");
  check(demo_share >= 0 && demo_share < 1, "--demo-share must lie in [0, 1)");
  check(lookahead >= 0 && lookahead <= 0.5, "--lookahead must lie in [0, 0.5]");
  check(frontier_share >= 0 && frontier_share < 1, "--frontier-share must lie in [0, 1)");
  check(filter != "none" || !demos.empty(), "--filter none trains on the demonstrations: --demos is required");
  for (int n : eval_lengths) check(n >= 1 && n <= 1000, "--eval-lengths must lie in 1..1000");
  if (format != "reversed" && format != "columns") {  // the 26 place letters run out past this length
    check(max_level <= kMarkedMaxDigits, "--format " + format + ": --max-level must be at most " + std::to_string(kMarkedMaxDigits));
    for (int n : eval_lengths)
      check(n <= kMarkedMaxDigits, "--format " + format + ": --eval-lengths must be at most " + std::to_string(kMarkedMaxDigits));
  }
  check(eval_n >= 0, "--eval-n must not be negative");
  check(time_limit >= 0 && std::isfinite(time_limit), "--time-limit must not be negative");
  check(watts_per_core > 0, "--watts-per-core must be positive");
  check(threads >= 0, "--threads must not be negative");
}

std::optional<size_t> majority_pick(const std::vector<std::string>& answers, double share) {
  std::map<std::string, std::pair<int, size_t>> votes;  // answer -> count, first sample
  for (size_t i = 0; i < answers.size(); ++i) {
    const ParsedAnswer p = parse_answer(answers[i]);
    if (p.kind != ParsedAnswer::Kind::Value) continue;
    auto [it, fresh] = votes.try_emplace(normalize_text(p.value), 0, i);
    it->second.first++;
  }
  int best = 0, ties = 0;
  size_t pick = 0;
  for (const auto& [v, c] : votes) {
    if (c.first > best) {
      best = c.first;
      pick = c.second;
      ties = 0;
    } else if (c.first == best) {
      ++ties;
    }
  }
  if (best == 0 || ties > 0 || (double)best <= share * (double)answers.size()) return std::nullopt;
  return pick;
}

std::optional<size_t> verifier_pick(const Task& task, const std::vector<std::string>& answers) {
  for (size_t i = 0; i < answers.size(); ++i)
    if (verify(task, answers[i]).verdict == Verdict::Correct) return i;
  return std::nullopt;
}

int next_level(int level, double rate, double threshold, int max_level) {
  return rate >= threshold ? std::min(level + 1, max_level) : level;
}

int frontier_copies(size_t frontier, size_t rest, double want, double draws) {
  if (frontier == 0 || want <= 0 || rest == 0) return 1;
  // At most kFrontierMaxDraws draws each: a share of kFrontierMaxDraws * frontier / draws.
  const double share = std::min(want, kFrontierMaxDraws * (double)frontier / draws);
  if (share >= 1) return 1;
  // c * frontier / (c * frontier + rest) = share
  const double c = share * (double)rest / ((1.0 - share) * (double)frontier);
  return std::max(1, (int)std::floor(c + 1e-9));  // down: never past the cap
}

int reliable_range(const json& accuracy, double threshold) {
  std::vector<std::pair<int, double>> acc;
  for (auto it = accuracy.begin(); it != accuracy.end(); ++it) acc.emplace_back(std::stoi(it.key()), it.value().get<double>());
  std::sort(acc.begin(), acc.end());
  int reliable = 0;
  for (const auto& [n, a] : acc) {
    if (a < threshold) break;
    reliable = n;
  }
  return reliable;
}

std::vector<Task> improve_tasks(const std::string& op, const std::string& format, int digits, int n, uint64_t seed,
                                const std::string& split) {
  DemoOptions o;
  o.suite = "arith";
  o.op = op;
  o.format = format;
  o.digits = digits;
  o.max_digits = std::max(1, digits);
  o.n = n;
  o.seed = seed;
  o.split = split;
  o.lang = "en";
  std::vector<Task> out;
  for (const auto& d : generate_demos(o)) out.push_back(Task::from_json(d.task));
  return out;
}

}  // namespace veritas::selfplay
