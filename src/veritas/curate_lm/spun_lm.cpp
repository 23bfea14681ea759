#include "veritas/curate_lm/spun_lm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "veritas/data/synth.hpp"
#include "veritas/infer/engine.hpp"
#include "veritas/infer/kernels.hpp"
#include "veritas/infer/perplexity.hpp"
#include "veritas/kernels/vexp.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace veritas {

namespace {

constexpr int kVersion = 3;  // 3: windows start with the BOS token where the model has one; very_high_nll
constexpr int kWindow = 256;       // tokens per forward pass (a longer text is cut into windows)
constexpr int kSkip = 3;           // the first tokens of a window have too little context
constexpr int kFeatures = 8;
constexpr double kL2 = 1e-2;
constexpr int kTopK = 16;               // the model's most probable tokens searched for a neighbour
constexpr double kNeighbourCos = 0.35;  // input-embedding cosine that makes a token a neighbour

// Per-token sums of one text.
struct Raw {
  int n = 0;
  double nll = 0, high = 0, very_high = 0, miss = 0, gap = 0;
  double pref2 = 0, pref4 = 0, pref_ev = 0;  // a neighbour the model preferred (see SpunLmFeatures)
  std::vector<SpunLmToken> tokens;            // per content token, when asked for
  std::vector<double> means() const {
    const double d = std::max(n, 1);
    return {nll / d, high / d, miss / d, gap / d, pref2 / d, pref4 / d, pref_ev / d, very_high / d};
  }
};

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// The statistical detector's calibrated score as a logit: its prob, not its raw llr,
// because Chinese texts past the classical cut have an operating point of their own.
double stat_logit(const SpunFeatures& f) {
  const double p = std::clamp(f.prob, 1e-12, 1 - 1e-12);
  return std::log(p / (1 - p));
}

}  // namespace

std::vector<double> fit_logistic(const std::vector<std::vector<double>>& x, const std::vector<int>& y, double l2) {
  check(!x.empty() && x.size() == y.size(), "fit_logistic: needs as many labels as rows, and at least one");
  const size_t d = x[0].size();
  std::vector<double> w(d, 0.0);
  for (int it = 0; it < 50; ++it) {
    std::vector<double> g(d, 0.0);
    std::vector<double> h(d * d, 0.0);
    for (size_t i = 0; i < x.size(); ++i) {
      double z = 0;
      for (size_t a = 0; a < d; ++a) z += w[a] * x[i][a];
      const double p = sigmoid(z), r = p * (1 - p);
      for (size_t a = 0; a < d; ++a) {
        g[a] += (p - y[i]) * x[i][a];
        for (size_t b = 0; b < d; ++b) h[a * d + b] += r * x[i][a] * x[i][b];
      }
    }
    for (size_t a = 1; a < d; ++a) {  // not the bias
      g[a] += l2 * w[a];
      h[a * d + a] += l2;
    }
    // Solve h * step = g (Gaussian elimination with partial pivoting).
    std::vector<double> step = g;
    for (size_t c = 0; c < d; ++c) {
      size_t piv = c;
      for (size_t r = c + 1; r < d; ++r)
        if (std::fabs(h[r * d + c]) > std::fabs(h[piv * d + c])) piv = r;
      for (size_t k = 0; k < d; ++k) std::swap(h[c * d + k], h[piv * d + k]);
      std::swap(step[c], step[piv]);
      if (std::fabs(h[c * d + c]) < 1e-12) continue;
      for (size_t r = 0; r < d; ++r) {
        if (r == c) continue;
        const double f = h[r * d + c] / h[c * d + c];
        for (size_t k = 0; k < d; ++k) h[r * d + k] -= f * h[c * d + k];
        step[r] -= f * step[c];
      }
    }
    double moved = 0;
    for (size_t a = 0; a < d; ++a) {
      const double s = std::fabs(h[a * d + a]) < 1e-12 ? 0 : step[a] / h[a * d + a];
      w[a] -= s;
      moved = std::max(moved, std::fabs(s));
    }
    if (moved < 1e-10) break;
  }
  return w;
}

namespace {

double dot(const std::vector<double>& w, const std::vector<double>& x) {
  double s = 0;
  for (size_t i = 0; i < w.size(); ++i) s += w[i] * x[i];
  return s;
}

// The 99th percentile of the clean documents' scores: prob = 0.5 there (1 % false positives).
double offset_at_1pct(std::vector<double> clean) {
  std::sort(clean.begin(), clean.end());
  return clean[std::min(clean.size() - 1, (size_t)std::ceil(0.99 * (double)clean.size()) - 1)];
}

}  // namespace

struct SpunLmScorer::Impl {
  Lang lang;
  infer::Engine engine;
  std::vector<uint8_t> content;  // per token id: starts a word (English) or a Han character (Chinese)
  std::unordered_map<int32_t, std::vector<float>> unit_embed;  // normalized input embeddings, filled on use

  const std::vector<float>& unit(int32_t id) {
    auto it = unit_embed.find(id);
    if (it != unit_embed.end()) return it->second;
    std::vector<float> e(engine.config().hidden_size);
    engine.token_embedding(id, e.data());
    double n2 = 0;
    for (float v : e) n2 += (double)v * v;
    const float inv = n2 > 0 ? (float)(1 / std::sqrt(n2)) : 0.f;
    for (float& v : e) v *= inv;
    return unit_embed.emplace(id, std::move(e)).first->second;
  }
  float cosine(int32_t a, int32_t b) {
    // Bounded (a long run meets most of a large vocabulary); cleared before, never between,
    // the two look-ups, whose references must stay valid.
    if (unit_embed.size() >= 65536) unit_embed.clear();
    const std::vector<float>& x = unit(a);
    const std::vector<float>& y = unit(b);
    float s = 0;
    for (size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
    return s;
  }
  // The fit: clean means of the per-token features; weights over [1, z] (language model
  // alone) and [1, statistical logit, z] (combined), and their operating-point offsets.
  std::vector<double> mu, w_lm, w_all;
  double off_lm = 0, off_all = 0;

  bool fitted = false;

  Raw raw(std::string_view text, std::vector<int32_t>* ids_out = nullptr, bool keep_tokens = false) {
    const std::vector<int32_t> ids = engine.tokenizer()->encode(std::string(text));
    if (ids_out) *ids_out = ids;
    const int V = engine.config().vocab_size;
    Raw r;
    if (ids.size() < 2) return r;
    // Windows led by the BOS token where the model has one (infer::for_each_window).
    infer::for_each_window(engine, ids, kWindow, [&](const int32_t* win, int len, const float* logits) {
      for (int t = kSkip; t + 1 < len; ++t) {
        const int32_t target = win[t + 1];
        if (target < 0 || target >= V || !content[target]) continue;
        const float* row = logits + (size_t)t * V;
        // The model's kTopK most probable tokens, in one pass (top[0] is the maximum).
        int top[kTopK] = {};
        int nt = 0;
        for (int v = 0; v < V; ++v) {
          if (nt == kTopK && row[v] <= row[top[nt - 1]]) continue;
          int i = nt < kTopK ? nt++ : kTopK - 1;
          while (i > 0 && row[top[i - 1]] < row[v]) {
            top[i] = top[i - 1];
            --i;
          }
          top[i] = v;
        }
        const float mx = row[top[0]];
        const double lse = std::log((double)kernels::exp_shift_sum(nullptr, row, V, mx));
        const double nll = lse - (row[target] - mx), top_lp = -lse;  // log p(top token)
        r.n++;
        r.nll += nll;
        r.high += nll > 6;
        r.very_high += nll > 10;
        r.miss += top_lp >= std::log(0.4) && nll > -std::log(0.02);
        r.gap += std::min(10.0, top_lp + nll);
        // Among them, the content tokens that the model's input embedding puts near the
        // actual one (a synonym, or the word a spinner replaced): how much more probable
        // was the most preferred of them?
        double pref = 0;
        for (int i = 0; i < nt; ++i) {
          const int v = top[i];
          if (v == target || !content[v] || row[v] <= row[target]) continue;
          if (cosine(v, target) >= kNeighbourCos) pref = std::max(pref, (double)(row[v] - row[target]));
        }
        r.pref2 += pref > 2;
        r.pref4 += pref > 4;
        r.pref_ev += std::min(10.0, std::max(0.0, pref - 2));
        if (keep_tokens) r.tokens.push_back({target, (float)nll, (float)(top_lp + nll), (float)pref});
      }
    });
    return r;
  }

  // z: each feature's distance from its clean mean, times sqrt(tokens) (evidence grows
  // with the text's length).
  std::vector<double> z(const Raw& r) const {
    std::vector<double> m = r.means(), out(kFeatures);
    for (int i = 0; i < kFeatures; ++i) out[i] = (m[i] - mu[i]) * std::sqrt((double)r.n);
    return out;
  }

  void fit(const SpunConfig& cfg, const std::function<void(int, int)>& on_fit) {
    // cfg.lm_fit_passages clean tuning passages, and as many spun copies.
    const SpunModel& stat = SpunModel::get(cfg);
    const std::vector<std::string> clean = spun_eval_passages_all(lang, 0, cfg.lm_fit_passages);
    check(clean.size() >= 50, "spun-lm: too few tuning passages to fit on");
    std::vector<Raw> raws;
    std::vector<double> stat_llr;
    std::vector<int> y;
    const int total = 2 * (int)clean.size();
    for (size_t k = 0; k < clean.size(); ++k) {
      const double rate = k % 3 == 0 ? 0.15 : k % 3 == 1 ? 0.30 : 0.45;
      const std::string spun = make_spun_copy(clean[k], lang, rate, 1000 + k);
      for (int label = 0; label < 2; ++label) {
        const std::string& t = label ? spun : clean[k];
        raws.push_back(raw(t));
        stat_llr.push_back(stat_logit(stat.score(t, lang)));
        y.push_back(label);
        if (on_fit) on_fit((int)raws.size(), total);
      }
    }
    mu.assign(kFeatures, 0.0);
    int n_clean = 0;
    for (size_t i = 0; i < raws.size(); ++i)
      if (!y[i] && raws[i].n > 0) {
        std::vector<double> m = raws[i].means();
        for (int f = 0; f < kFeatures; ++f) mu[f] += m[f];
        n_clean++;
      }
    check(n_clean > 0, "spun-lm: no clean tuning passage has a content token for this model");
    for (double& v : mu) v /= n_clean;
    std::vector<std::vector<double>> x_lm, x_all;
    for (size_t i = 0; i < raws.size(); ++i) {
      std::vector<double> zi = z(raws[i]);
      std::vector<double> a = {1.0}, b = {1.0, stat_llr[i]};
      a.insert(a.end(), zi.begin(), zi.end());
      b.insert(b.end(), zi.begin(), zi.end());
      x_lm.push_back(a);
      x_all.push_back(b);
    }
    w_lm = fit_logistic(x_lm, y, kL2);
    w_all = fit_logistic(x_all, y, kL2);
    std::vector<double> c_lm, c_all;
    for (size_t i = 0; i < raws.size(); ++i)
      if (!y[i]) {
        c_lm.push_back(dot(w_lm, x_lm[i]));
        c_all.push_back(dot(w_all, x_all[i]));
      }
    off_lm = offset_at_1pct(c_lm);
    off_all = offset_at_1pct(c_all);
  }

  std::string model;

  static SpunLmFeatures features(const Raw& r) {
    SpunLmFeatures f;
    f.tokens = r.n;
    if (r.n == 0) return f;
    const std::vector<double> m = r.means();
    f.mean_nll = m[0];
    f.high_nll = m[1];
    f.confident_miss = m[2];
    f.mean_gap = m[3];
    f.neighbour_2 = m[4];
    f.neighbour_4 = m[5];
    f.neighbour_evidence = m[6];
    f.very_high_nll = m[7];
    f.per_token = r.tokens;
    return f;
  }

  nlohmann::json to_json(const std::string& key) const {
    return {{"version", kVersion}, {"key", key}, {"mu", mu}, {"w_lm", w_lm}, {"w_all", w_all},
            {"off_lm", off_lm}, {"off_all", off_all}};
  }
  bool from_json(const nlohmann::json& j, const std::string& key) {
    try {
      if (j.at("version").get<int>() != kVersion || j.at("key").get<std::string>() != key) return false;
      mu = j.at("mu").get<std::vector<double>>();
      w_lm = j.at("w_lm").get<std::vector<double>>();
      w_all = j.at("w_all").get<std::vector<double>>();
      off_lm = j.at("off_lm").get<double>();
      off_all = j.at("off_all").get<double>();
      return mu.size() == kFeatures && w_lm.size() == kFeatures + 1 && w_all.size() == kFeatures + 2;
    } catch (const nlohmann::json::exception&) {
      return false;  // a damaged cache is refit, not trusted
    }
  }
};

namespace {

bool starts_with_han(const std::string& s) {
  size_t i = s.empty() || s[0] != ' ' ? 0 : 1;
  if (i + 3 > s.size()) return false;
  const auto* u = (const unsigned char*)s.data() + i;
  if ((u[0] & 0xF0) != 0xE0) return false;
  const uint32_t cp = ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
  return cp >= 0x4E00 && cp <= 0x9FFF;
}

}  // namespace

SpunLmScorer::SpunLmScorer(const std::string& model, Lang lang) : impl_(std::make_unique<Impl>()) {
  check(lang == Lang::En || lang == Lang::Zh, "spun-lm: only English and Chinese texts are scored");
  impl_->lang = lang;
  impl_->model = model;
  infer::EngineOptions eo;
  const bool gguf = fs::path(model).extension() == ".gguf";
  eo.precision = infer::parse_precision(gguf ? "gguf" : "fp32");
  eo.context = kWindow;
  impl_->engine = infer::Engine::load(model, eo);
  check(impl_->engine.tokenizer() != nullptr, "spun-lm: " + model + " has no tokenizer");
  const int V = impl_->engine.config().vocab_size;
  const int tv = impl_->engine.tokenizer()->vocab_size();
  impl_->content.assign(V, 0);
  for (int id = 0; id < std::min(V, tv); ++id) {
    const std::string s = impl_->engine.tokenizer()->decode({id});
    impl_->content[id] = lang == Lang::En ? (s.size() >= 2 && s[0] == ' ' && std::isalpha((unsigned char)s[1]))
                                          : starts_with_han(s);
  }
}

void SpunLmScorer::load_or_fit(const SpunConfig& cfg, const std::function<void(int, int)>& on_fit) {
  const std::string& model = impl_->model;
  std::error_code ec;
  const uintmax_t size = fs::file_size(model, ec);
  std::string key = std::string(lang_code(impl_->lang)) + "-" + fs::path(model).filename().string() + "-" +
                    std::to_string(ec ? 0 : size);
  if (cfg.lm_fit_passages != SpunConfig{}.lm_fit_passages) key += "-fit" + std::to_string(cfg.lm_fit_passages);
  const fs::path dir = spun_cache_dir(cfg), file = dir / ("spun-lm-" + key + ".json");
  impl_->fitted = true;
  if (fs::exists(file, ec)) {
    nlohmann::json j = nlohmann::json::parse(read_file(file), nullptr, false);
    if (!j.is_discarded() && impl_->from_json(j, key)) return;
  }
  std::fprintf(stderr, "spun-lm: fitting the %s language-model evidence on the tuning split into %s ...\n",
               lang_code(impl_->lang), file.c_str());
  impl_->fit(cfg, on_fit);
  fs::create_directories(dir, ec);
  try {
    atomic_write_file(file, impl_->to_json(key).dump(1) + "\n");
  } catch (const std::exception& e) {  // the fit is still good for this run
    std::fprintf(stderr, "spun-lm: warning: could not cache the fit: %s\n", e.what());
  }
}

SpunLmScorer::~SpunLmScorer() = default;

SpunLmFeatures SpunLmScorer::features(std::string_view text, std::vector<int32_t>* ids, bool keep_tokens) {
  return impl_->features(impl_->raw(text, ids, keep_tokens));
}

SpunLmFeatures SpunLmScorer::score(std::string_view text, const SpunFeatures& stat, bool keep_tokens) {
  check(impl_->fitted, "spun-lm: score() before load_or_fit()");
  const Raw r = impl_->raw(text, nullptr, keep_tokens);
  SpunLmFeatures f = impl_->features(r);
  if (r.n == 0) return f;
  const std::vector<double> zi = impl_->z(r);
  std::vector<double> a = {1.0}, b = {1.0, stat_logit(stat)};
  a.insert(a.end(), zi.begin(), zi.end());
  b.insert(b.end(), zi.begin(), zi.end());
  f.lm_llr = dot(impl_->w_lm, a) - impl_->off_lm;
  f.lm_prob = sigmoid(f.lm_llr);
  f.llr = dot(impl_->w_all, b) - impl_->off_all;
  f.prob = sigmoid(f.llr);
  return f;
}

}  // namespace veritas
