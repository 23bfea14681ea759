// The curation stage that adds the language model's evidence to the spun detector
// (spun_lm.hpp): built by `veritas curate` from the [spun] settings.
#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <mutex>

#include "veritas/curate_lm/spun_lm.hpp"
#include "veritas/infer/installed_models.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace veritas {

namespace {

// One scorer per language, shared by the pipeline's threads: the engine is not
// thread-safe and uses every core itself, so documents go through it one at a time.
struct LockedScorer {
  std::unique_ptr<SpunLmScorer> scorer;
  std::mutex mu;
};

}  // namespace

fs::path spun_lm_model(const std::string& arg, Lang lang, const std::string& setting) {
  if (arg.empty()) return {};
  if (arg == "auto") return lang == Lang::En ? infer::installed_smollm2() : infer::installed_gemma3();
  check(fs::exists(arg), setting + " \"" + arg + "\": no such file or folder");
  return arg;
}

std::vector<FilterStage> spun_lm_stages(const SpunConfig& cfg, std::vector<std::string>* notes) {
  auto scorers = std::make_shared<std::array<LockedScorer, 2>>();  // en, zh
  std::string with;
  for (Lang l : {Lang::En, Lang::Zh}) {
    const std::string& arg = l == Lang::En ? cfg.lm_en : cfg.lm_zh;
    const std::string key = std::string("spun.lm_") + lang_code(l);
    if (arg.empty()) {
      notes->push_back(std::string("spun (") + lang_code(l) + "): the statistical detector alone (no language model: " +
                       key + " is not set)");
      continue;
    }
    const fs::path model = spun_lm_model(arg, l, key + " =");
    if (model.empty()) {  // "auto", nothing installed
      notes->push_back(std::string("spun (") + lang_code(l) + "): the statistical detector alone (" + key +
                       " = \"auto\", but the model is not installed; scripts/setup installs it)");
      continue;
    }
    std::fprintf(stderr, "curate: loading %s for the spun stage's %s evidence\n", model.c_str(), lang_code(l));
    auto& slot = (*scorers)[l == Lang::En ? 0 : 1];
    slot.scorer = std::make_unique<SpunLmScorer>(model.string(), l);
    slot.scorer->load_or_fit(cfg);
    notes->push_back(std::string("spun (") + lang_code(l) + "): statistical detector and language-model evidence (" +
                     model.filename().string() + ", " + cfg.lm_score + " score, drop above " +
                     std::to_string(cfg.lm_threshold).substr(0, 4) + ")");
    with += lang_code(l);
  }
  if (with.empty()) return {};
  return {{"spun_lm", [scorers, cfg](Document& d) {
             if (d.lang != Lang::En && d.lang != Lang::Zh) return Decision::ok();
             LockedScorer& s = (*scorers)[d.lang == Lang::En ? 0 : 1];
             if (!s.scorer) return Decision::ok();
             // The spun stage just before recorded its probability for exactly the texts it
             // scored (at least min_words words); the combined score needs only that.
             auto it = std::find_if(d.scores.begin(), d.scores.end(), [](const auto& kv) { return kv.first == "spun.prob"; });
             if (it == d.scores.end()) return Decision::ok();
             SpunFeatures stat;
             stat.prob = it->second;
             SpunLmFeatures f;
             {
               std::lock_guard<std::mutex> lock(s.mu);
               f = s.scorer->score(d.text, stat);
             }
             const double p = cfg.lm_score == "combined" ? f.prob : f.lm_prob;
             d.scores.emplace_back("spun.lm_prob", p);
             if (p <= cfg.lm_threshold) return Decision::ok();
             char b[240];
             std::snprintf(b, sizeof b,
                           "p_lm=%.3f > %.3g (%s; mean_nll=%.2f neighbour_evidence=%.3f tokens=%d; statistical p=%.3f)",
                           p, cfg.lm_threshold, cfg.lm_score.c_str(), f.mean_nll, f.neighbour_evidence, f.tokens,
                           stat.prob);
             return Decision::drop("spun.language_model", b);
           }}};
}

}  // namespace veritas
