// Machine-spun text detection. Reference statistics come from Debian packages (see
// spun.hpp and docs/curation-filters.md); they are built once, cached as a binary file
// and shared read-only between threads.
//
// The work is spread over files named for their jobs: spun_tables.hpp (hashes and count
// tables), spun_tokens (Chinese segmentation, token streams), spun_passages (the clean
// passages and their splits; the texts come from text_sources), spun_features (token
// cells, document features, the tortured-phrase lexicon), spun_fit (fitting),
// spun_cache (the binary cache); the spinner that makes spun copies is in synth_spin.cpp.
#include "veritas/data/spun.hpp"

#include <filesystem>

#include "veritas/data/spun_model.hpp"
#include "veritas/data/text_sources.hpp"
#include "veritas/util/config.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/timer.hpp"

namespace veritas {

using namespace spun;

struct SpunModel::Impl : Impl0 {};

SpunModel::SpunModel() : impl_(std::make_unique<Impl>()) {}
SpunModel::~SpunModel() = default;

std::unique_ptr<SpunModel> SpunModel::build() {
  std::unique_ptr<SpunModel> m(new SpunModel());
  Impl& im = *m->impl_;
  load_zh_dict(im.dict, false);
  auto en = passages_en();
  auto zh = passages_zh();
  {
    Keys keys;
    for (const Passage& p : en)
      if (p.split < 0) count_text(nullptr, im.en, p.text, keys);
    im.en.bi.build(keys.pairs);
    for (const Passage& p : zh)
      if (p.split < 0) {
        count_text(&im.dict, im.zh, p.text, keys);
        count_zh_char_bigrams(im.zh_cref, p.text, 1);
      }
    im.zh.bi.build(keys.pairs);
  }
  {
    sources::for_each_line(read_file(sources::kJiebaDict), [&](std::string_view line) {
      size_t a = line.find(' ');
      if (a == std::string_view::npos) return;
      uint32_t f = (uint32_t)std::strtoul(std::string(line.substr(a + 1, 12)).c_str(), nullptr, 10);
      if (f) count_zh_char_bigrams(im.zh_cdict, line.substr(0, a), std::min<uint32_t>(f, 1000000));
    });
  }
  {
    const SpinResources& r = spin_resources();
    // Each word's synonyms that the reference text has, most frequent first.
    std::vector<std::pair<uint32_t, uint64_t>> v;
    for (auto& [w, syns] : r.synonyms) {
      v.clear();
      for (auto& x : syns)
        if (uint32_t c = im.en.uni.get(hash_bytes(x))) v.emplace_back(c, hash_bytes(x));
      if (v.empty()) continue;
      std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
      im.syn_flat.push_back(v.size());
      im.syn_cnt.push_back(0);
      im.syn_index.add(hash_bytes(w), (uint32_t)im.syn_flat.size());
      for (auto& [c, h] : v) {
        im.syn_flat.push_back(h);
        im.syn_cnt.push_back(c);
      }
    }
  }
  std::fprintf(stderr, "spun: reference text: en %.0f tokens (%zu word pairs), zh %.0f words (%zu word pairs)\n",
               im.en.total, im.en.bi.used, im.zh.total, im.zh.bi.used);
  im.make_score_tables();
  fit(im, im.en, Lang::En, en, 1000, 12000);
  fit(im, im.zh, Lang::Zh, zh, 2000, 6000);
  return m;
}

const SpunModel& SpunModel::get(const SpunConfig& cfg) {
  thread_local const SpunModel* last = nullptr;  // per-thread memo: no lock per document
  thread_local std::string last_cfg_dir;
  if (last && last_cfg_dir == cfg.cache_dir) return *last;
  const SpunModel& m = get_locked(cfg);
  last_cfg_dir = cfg.cache_dir;
  last = &m;
  return m;
}

std::string spun_cache_dir(const SpunConfig& cfg) {
  if (!cfg.cache_dir.empty()) return cfg.cache_dir;
  if (const char* c = std::getenv("VERITAS_CACHE")) return c;
  if (const char* h = std::getenv("HOME")) return std::string(h) + "/.cache/veritas";
  return "/tmp/veritas-cache";
}

const SpunModel& SpunModel::get_locked(const SpunConfig& cfg) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<SpunModel>> models;
  const std::string dir = spun_cache_dir(cfg);
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = models[dir];
  if (slot) return *slot;
  fs::path file = fs::path(dir) / "spun-model.bin";
  const uint64_t fp = spun::source_fingerprint();
  std::error_code ec;
  if (fs::exists(file, ec)) {
    std::string bytes = read_file(file);
    std::unique_ptr<SpunModel> m(new SpunModel());
    if (spun::load_cache(bytes, fp, *m->impl_)) {
      std::string().swap(bytes);  // lower peak memory: the file copy is no longer needed
      m->impl_->make_score_tables();
      m->impl_->drop_source_tables();
      slot = std::move(m);
      return *slot;
    }
    // A stale or damaged cache is rebuilt, not trusted.
  }
  std::fprintf(stderr, "spun: building reference statistics from Debian packages into %s ...\n", file.c_str());
  Timer t;
  slot = build();
  fs::create_directories(dir, ec);
  try {
    atomic_write_file(file, spun::cache_bytes(*slot->impl_, fp));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spun: cannot cache the model (%s); continuing without a cache\n", e.what());
  }
  slot->impl_->drop_source_tables();
  std::fprintf(stderr, "spun: done in %.1f s\n", t.seconds());
  return *slot;
}

SpunFeatures SpunModel::score(std::string_view text, Lang lang) const {
  SpunFeatures f;
  thread_local std::vector<int> cells;
  token_cells(*impl_, text, lang, f, cells);
  const LangStats& st = lang == Lang::Zh ? impl_->zh : impl_->en;
  double x[LangStats::kDoc];
  double mix_sum;
  double cs = doc_llr(st, cells, &mix_sum);
  doc_features(st, f, cs, mix_sum, x);
  f.llr = doc_z(st, x);
  double off = f.single_char_words >= st.classical_cut ? st.offset_classical : st.offset;
  f.prob = 1.0 / (1.0 + std::exp(-(f.llr - off)));
  return f;
}

SpunConfig SpunConfig::from_json(const nlohmann::json& j) {
  SpunConfig c;
  c.enabled = get_or(j, "enabled", c.enabled);
  c.cache_dir = get_or<std::string>(j, "cache_dir", c.cache_dir);
  c.threshold = get_or(j, "threshold", c.threshold);
  c.min_words = get_or(j, "min_words", c.min_words);
  c.lexicon_hits_drop = get_or(j, "lexicon_hits_drop", c.lexicon_hits_drop);
  c.lm_en = get_or<std::string>(j, "lm_en", c.lm_en);
  c.lm_zh = get_or<std::string>(j, "lm_zh", c.lm_zh);
  c.lm_score = get_or<std::string>(j, "lm_score", c.lm_score);
  c.lm_threshold = get_or(j, "lm_threshold", c.lm_threshold);
  c.lm_fit_passages = get_or(j, "lm_fit_passages", c.lm_fit_passages);
  check(c.lm_score == "model" || c.lm_score == "combined",
        "spun.lm_score must be \"model\" or \"combined\", not \"" + c.lm_score + "\"");
  check(c.lm_fit_passages >= 50, "spun.lm_fit_passages must be at least 50");
  return c;
}

Decision check_spun(Document& doc, const SpunConfig& cfg) {
  if (!cfg.enabled) return Decision::ok();
  const SpunModel& m = SpunModel::get(cfg);
  // Text in neither language is scored with the English model only when it is mostly ASCII.
  Lang lang = doc.lang == Lang::Zh ? Lang::Zh : Lang::En;
  SpunFeatures f = m.score(doc.text, lang);
  if (f.lexicon_hits >= cfg.lexicon_hits_drop)
    return Decision::drop("spun.tortured_phrases", "distinct_tortured_phrases=" + std::to_string(f.lexicon_hits) +
                                                       " >= " + std::to_string(cfg.lexicon_hits_drop));
  if (f.words < cfg.min_words) return Decision::ok();
  doc.scores.emplace_back("spun.prob", f.prob);
  if (f.prob > cfg.threshold) {
    char b[200];
    std::snprintf(b, sizeof b,
                  "p_spun=%.3f > %.3g (suspicious_words=%d unseen_pairs=%.3f rare_words=%.3f words=%d)", f.prob,
                  cfg.threshold, f.suspicious, f.unseen_bigrams, f.rare_words, f.words);
    return Decision::drop("spun.statistical", b);
  }
  return Decision::ok();
}

}  // namespace veritas
