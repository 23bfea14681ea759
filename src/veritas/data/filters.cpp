// Wiring of the content filters into the pipeline, in the order of docs/curation.md:
// quality -> spam -> spun -> PII -> classifier (optional). Each section of the config
// ([quality] [spam] [spun] [pii] [classifier]) is documented in docs/curation-filters.md;
// a section with enabled = false leaves its stage out.
#include "veritas/data/curate.hpp"

#include <memory>

#include "veritas/data/classifier.hpp"
#include "veritas/data/pii.hpp"
#include "veritas/data/quality.hpp"
#include "veritas/data/spam.hpp"
#include "veritas/data/spun.hpp"

namespace veritas {

namespace {
const nlohmann::json& sec(const nlohmann::json& cfg, const char* name) {
  static const nlohmann::json empty = nlohmann::json::object();
  if (cfg.is_object() && cfg.contains(name) && cfg[name].is_object()) return cfg[name];
  return empty;
}
}  // namespace

std::vector<FilterStage> content_filters(const nlohmann::json& cfg) {
  std::vector<FilterStage> out;
  auto q = std::make_shared<QualityConfig>(QualityConfig::from_json(sec(cfg, "quality")));
  if (q->enabled) out.push_back({"quality", [q](Document& d) { return check_quality(d, *q); }});
  auto s = std::make_shared<SpamConfig>(SpamConfig::from_json(sec(cfg, "spam")));
  if (s->enabled) out.push_back({"spam", [s](Document& d) { return check_spam(d, *s); }});
  auto sp = std::make_shared<SpunConfig>(SpunConfig::from_json(sec(cfg, "spun")));
  if (sp->enabled) {
    SpunModel::get(*sp);  // load (or build) the reference statistics once, before the threads start
    out.push_back({"spun", [sp](Document& d) { return check_spun(d, *sp); }});
  }
  auto p = std::make_shared<PiiConfig>(PiiConfig::from_json(sec(cfg, "pii")));
  if (p->enabled) out.push_back({"pii", [p](Document& d) { return mask_pii(d, *p); }});
  auto c = std::make_shared<ClassifierConfig>(ClassifierConfig::from_json(sec(cfg, "classifier")));
  if (!c->model.empty()) {
    QualityClassifier::get(c->model);
    out.push_back({"classifier", [c](Document& d) { return check_classifier(d, *c); }});
  }
  return out;
}

}  // namespace veritas
