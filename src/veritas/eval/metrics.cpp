#include "veritas/eval/metrics.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "veritas/util/error.hpp"
#include "veritas/verify/answer.hpp"

namespace veritas::eval {

void Split::add(Verdict v) {
  switch (v) {
    case Verdict::Correct: ++correct; break;
    case Verdict::Wrong: ++wrong; break;
    case Verdict::Abstained: ++abstained; break;
    case Verdict::Malformed: ++malformed; break;
  }
}

std::optional<double> Split::accuracy_attempted() const {
  if (attempted() == 0) return std::nullopt;
  return (double)correct / (double)attempted();
}

std::optional<double> Split::f_score() const {
  auto a = accuracy_attempted();
  double c = rate(correct);
  if (!a || *a + c == 0) return a ? std::optional<double>(0.0) : std::nullopt;
  return 2 * c * *a / (c + *a);
}

static nlohmann::json opt(std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

nlohmann::json Split::to_json() const {
  return {{"answers", total()},
          {"correct", correct},
          {"wrong", wrong},
          {"abstained", abstained},
          {"malformed", malformed},
          {"correct_rate", rate(correct)},
          {"wrong_rate", rate(wrong)},
          {"abstained_rate", rate(abstained)},
          {"malformed_rate", rate(malformed)},
          {"accuracy_attempted", opt(accuracy_attempted())},
          {"f_score", opt(f_score())}};
}

static void check_confidence(double c) {
  check(std::isfinite(c) && c >= 0 && c <= 1, "confidence " + std::to_string(c) + " is outside [0, 1]");
}

std::optional<Calibration> calibration(const std::vector<Judgement>& js, int nbins) {
  check(nbins >= 1, "calibration needs at least one bin");
  if (js.empty()) return std::nullopt;
  Calibration cal;
  cal.count = (int64_t)js.size();
  cal.bins.resize(nbins);
  std::vector<double> conf_sum(nbins, 0), correct_sum(nbins, 0);
  double brier = 0;
  for (const auto& j : js) {
    check_confidence(j.confidence);
    int b = std::min(nbins - 1, (int)std::floor(j.confidence * nbins));
    cal.bins[b].count++;
    conf_sum[b] += j.confidence;
    correct_sum[b] += j.correct ? 1 : 0;
    double d = j.confidence - (j.correct ? 1.0 : 0.0);
    brier += d * d;
  }
  double ece = 0;
  for (int b = 0; b < nbins; ++b) {
    auto& bin = cal.bins[b];
    bin.lo = (double)b / nbins;
    bin.hi = (double)(b + 1) / nbins;
    if (bin.count == 0) continue;
    bin.mean_confidence = conf_sum[b] / bin.count;
    bin.accuracy = correct_sum[b] / bin.count;
    ece += (double)bin.count / cal.count * std::fabs(bin.accuracy - bin.mean_confidence);
  }
  cal.ece = ece;
  cal.brier = brier / cal.count;
  return cal;
}

nlohmann::json Calibration::to_json() const {
  nlohmann::json jb = nlohmann::json::array();
  for (const auto& b : bins)
    jb.push_back({{"lo", b.lo}, {"hi", b.hi}, {"count", b.count},
                  {"mean_confidence", b.count ? nlohmann::json(b.mean_confidence) : nlohmann::json()},
                  {"accuracy", b.count ? nlohmann::json(b.accuracy) : nlohmann::json()}});
  return {{"count", count}, {"ece", ece}, {"brier", brier}, {"bins", jb}};
}

std::optional<RiskCoverage> risk_coverage(const std::vector<Judgement>& js) {
  if (js.empty()) return std::nullopt;
  for (const auto& j : js) check_confidence(j.confidence);
  std::vector<Judgement> s = js;
  std::stable_sort(s.begin(), s.end(), [](const Judgement& a, const Judgement& b) { return a.confidence > b.confidence; });
  const int64_t n = (int64_t)s.size();
  RiskCoverage rc;
  rc.count = n;
  rc.coverage.reserve(n);
  rc.risk.reserve(n);
  double errors_before = 0, area = 0;
  for (int64_t g = 0; g < n;) {
    int64_t e = g;
    int64_t wrong = 0;
    while (e < n && s[e].confidence == s[g].confidence) wrong += s[e++].correct ? 0 : 1;
    double per = (double)wrong / (double)(e - g);  // expected errors per kept answer of the group
    for (int64_t i = g + 1; i <= e; ++i) {
      double r = (errors_before + per * (double)(i - g)) / (double)i;
      rc.coverage.push_back((double)i / n);
      rc.risk.push_back(r);
      area += r;
    }
    errors_before += wrong;
    g = e;
  }
  rc.aurc = area / n;
  // Perfect ranking: the n - E correct answers first, then the E wrong ones.
  int64_t right = n - (int64_t)std::llround(errors_before);
  double opt = 0;
  for (int64_t i = right + 1; i <= n; ++i) opt += (double)(i - right) / (double)i;
  rc.aurc_optimal = opt / n;
  return rc;
}

nlohmann::json RiskCoverage::to_json(size_t max_points) const {
  // The curve is thinned for the file; aurc is computed on every point.
  nlohmann::json cov = nlohmann::json::array(), risk_j = nlohmann::json::array();
  size_t n = coverage.size();
  size_t step = std::max<size_t>(1, (n + max_points - 1) / std::max<size_t>(1, max_points));
  for (size_t i = 0; i < n; i += step) {
    cov.push_back(coverage[i]);
    risk_j.push_back(risk[i]);
  }
  if (n && (n - 1) % step != 0) {
    cov.push_back(coverage[n - 1]);
    risk_j.push_back(risk[n - 1]);
  }
  return {{"count", count}, {"aurc", aurc}, {"aurc_optimal", aurc_optimal}, {"excess_aurc", aurc - aurc_optimal},
          {"coverage", cov}, {"risk", risk_j}};
}

double pass_at_k(int64_t n, int64_t c, int64_t k) {
  check(n >= 1 && k >= 1 && k <= n && c >= 0 && c <= n,
        "pass@k needs 1 <= k <= n and 0 <= c <= n (n=" + std::to_string(n) + " c=" + std::to_string(c) +
            " k=" + std::to_string(k) + ")");
  if (n - c < k) return 1.0;  // every k-subset holds a correct sample
  // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
  double p = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i) p *= 1.0 - (double)k / (double)i;
  return 1.0 - p;
}

double majority_correct(const std::vector<Vote>& votes) {
  if (votes.empty()) return 0.0;
  std::map<std::string, std::pair<int64_t, Verdict>> groups;  // key -> (count, verdict of first)
  for (const auto& v : votes) {
    auto it = groups.find(v.key);
    if (it == groups.end()) groups.emplace(v.key, std::make_pair(1, v.verdict));
    else it->second.first++;
  }
  int64_t best = 0;
  for (const auto& [k, g] : groups) best = std::max(best, g.first);
  int64_t tied = 0, tied_correct = 0;
  for (const auto& [k, g] : groups)
    if (g.first == best) {
      ++tied;
      tied_correct += g.second == Verdict::Correct ? 1 : 0;
    }
  return (double)tied_correct / (double)tied;
}

std::string vote_key(const std::string& text, Verdict verdict) {
  if (verdict == Verdict::Abstained) return "<abstained>";
  if (verdict == Verdict::Malformed) return "<malformed>";
  // Same parser as the verifier, so "42" and "Answer:  42." vote together.
  ParsedAnswer p = parse_answer(text);
  switch (p.kind) {
    case ParsedAnswer::Kind::Value: return "=" + normalize_text(p.value);
    case ParsedAnswer::Kind::DontKnow: return "<abstained>";
    case ParsedAnswer::Kind::CannotAnswer: return "<cannot be answered>";
    case ParsedAnswer::Kind::Malformed: break;
  }
  return "<malformed>";
}

}  // namespace veritas::eval
