// The clean passages of the spun-text model and its evaluation: every source (see
// sources()) is cut into passages (5 KJV verses, 8 WordNet glosses, 2 Chinese fortunes;
// documentation paragraphs joined to ~500 / ~450 bytes); a source's passage k goes to
// the held-out split when k % 10 == 0, to the tuning split when k % 10 == 5, and to the
// reference statistics otherwise. So neither tuning nor held-out text is ever seen by
// the statistics, and held-out text never tunes anything.
#include "veritas/data/spun_model.hpp"
#include "veritas/data/text_sources.hpp"

namespace veritas::spun {

namespace {

using namespace ::veritas::sources;

int split_of(size_t k) { return k % 10 == 0 ? 1 : k % 10 == 5 ? 0 : -1; }

std::vector<Passage> group(const std::vector<std::string>& items, size_t per) {
  std::vector<Passage> out;
  for (size_t k = 0; k * per < items.size(); ++k) {
    Passage p;
    p.split = split_of(k);
    for (size_t t = k * per; t < std::min(items.size(), (k + 1) * per); ++t) {
      if (!p.text.empty()) p.text += ' ';
      p.text += items[t];
    }
    out.push_back(std::move(p));
  }
  return out;
}

// Prose filters: Chinese items need >= 10 Han characters making at least half of the
// Han + ASCII alphanumerics (drops command lines, code, untranslated strings); English
// items >= 8 words with letters >= 75 % of the non-space characters.
bool prose_zh(std::string_view s) {
  size_t i = 0;
  int han = 0, ascii = 0;
  while (i < s.size()) {
    uint32_t c = utf8_next(s, i);
    if (is_han(c)) ++han;
    else if (c < 0x80 && std::isalnum((int)c)) ++ascii;
  }
  return han >= 10 && han >= ascii;
}
bool prose_en(std::string_view s) {
  int letters = 0, other = 0, words = 0;
  bool in = false;
  for (char c : s) {
    bool l = is_ascii_alpha(c);
    if (l && !in) ++words;
    in = l;
    if (l) ++letters;
    else if (c != ' ') ++other;
  }
  return words >= 8 && letters >= 3 * other;
}

// Consecutive items joined until a passage reaches min_bytes.
std::vector<std::string> join_to(const std::vector<std::string>& items, size_t min_bytes, const char* sep) {
  std::vector<std::string> out;
  std::string cur;
  for (auto& it : items) {
    if (!cur.empty()) cur += sep;
    cur += it;
    if (cur.size() >= min_bytes) { out.push_back(std::move(cur)); cur.clear(); }
  }
  return out;
}

// Every source's items are deduplicated across the language (first occurrence wins), cut
// into passages, and each source's passage k goes to split_of(k).
struct Source {
  std::string name;
  std::vector<Passage> passages;
};
void add_source(std::vector<Source>& out, std::unordered_set<uint64_t>& seen, const char* name,
                std::vector<std::string> items, bool (*keep)(std::string_view), size_t per, size_t min_bytes,
                const char* sep) {
  std::vector<std::string> kept;
  for (auto& it : items) {
    if (keep && !keep(it)) continue;
    bool fresh = seen.insert(hash_bytes(it)).second;
    // Items of the grouped sources (verses, glosses, fortunes) are natural text whose
    // repetitions are kept (as in earlier versions, so their passages are unchanged);
    // documentation paragraphs seen before (navigation, repeated boilerplate) are dropped.
    if (fresh || per) kept.push_back(std::move(it));
  }
  Source s;
  s.name = name;
  if (per) s.passages = group(kept, per);
  else {
    auto joined = join_to(kept, min_bytes, sep);
    for (size_t k = 0; k < joined.size(); ++k) s.passages.push_back({std::move(joined[k]), split_of(k)});
  }
  for (Passage& p : s.passages) p.src = (int)out.size();
  out.push_back(std::move(s));
}
// original_only: the sources of earlier versions (KJV and WordNet glosses; fortunes-zh),
// which come first and whose passages do not depend on the others.
std::vector<Source> sources(Lang lang, bool original_only = false) {
  std::vector<Source> out;
  std::unordered_set<uint64_t> seen;
  if (lang != Lang::Zh) {
    add_source(out, seen, "kjv", kjv_verses(), nullptr, 5, 0, " ");
    add_source(out, seen, "wordnet", wordnet_glosses(), nullptr, 8, 0, " ");
    if (original_only) return out;
    add_source(out, seen, "gcide", gcide_source(), prose_en, 0, 500, " ");
    add_source(out, seen, "handbook", html_source(std::string(sources::kHandbook) + "/en-US", ".html", "debian-handbook"),
               prose_en, 0, 500, "\n");
    add_source(out, seen, "fortunes", fortunes_en(), prose_en, 0, 400, "\n");
    add_source(out, seen, "python-doc", html_source(sources::kPythonDoc, ".html", "python3.11-doc"), prose_en, 0, 500, "\n");
  } else {
    add_source(out, seen, "fortunes-zh", fortunes_zh(), nullptr, 2, 0, "");
    if (original_only) return out;
    add_source(out, seen, "handbook", html_source(std::string(sources::kHandbook) + "/zh-CN", ".html", "debian-handbook"),
               prose_zh, 0, 450, "\n");
    add_source(out, seen, "reference", html_source(sources::kReferenceZh, ".zh-cn.html", "debian-reference-zh-cn"), prose_zh,
               0, 450, "\n");
    add_source(out, seen, "faq", html_source(sources::kFaqZh, ".zh-cn.html", "debian-faq-zh-cn"), prose_zh, 0, 450, "\n");
    add_source(out, seen, "maint-guide", html_source(sources::kMaintGuideZh, ".zh-cn.html", "maint-guide-zh-cn"), prose_zh, 0,
               450, "\n");
    add_source(out, seen, "manpages", man_source(sources::kManZh, "manpages-zh"), prose_zh, 0, 450, "\n");
  }
  return out;
}
// All passages, sources interleaved round-robin (so a prefix is a balanced mix).
std::vector<Passage> interleave(const std::vector<Source>& src) {
  std::vector<Passage> out;
  for (size_t k = 0;; ++k) {
    bool any = false;
    for (auto& s : src)
      if (k < s.passages.size()) { out.push_back(s.passages[k]); any = true; }
    if (!any) break;
  }
  return out;
}

const std::vector<Source>& eval_sources(Lang lang, bool original_only = false) {
  static std::mutex mu;
  static std::map<int, std::vector<Source>> memo;
  std::lock_guard<std::mutex> lock(mu);
  int key = (lang == Lang::Zh ? 1 : 0) + (original_only ? 2 : 0);
  auto it = memo.find(key);
  if (it == memo.end()) it = memo.emplace(key, sources(lang == Lang::Zh ? Lang::Zh : Lang::En, original_only)).first;
  return it->second;
}

}  // namespace

std::vector<Passage> passages_en() { return interleave(sources(Lang::En)); }
std::vector<Passage> passages_zh() { return interleave(sources(Lang::Zh)); }

}  // namespace veritas::spun

namespace veritas {

using spun::Passage;
using spun::Source;
using spun::eval_sources;

std::vector<std::string> spun_eval_passages(Lang lang, int split, int max_passages) {
  std::vector<const Passage*> sel;
  for (auto& s : eval_sources(lang, true))
    for (const Passage& p : s.passages)
      if (p.split == split) sel.push_back(&p);
  std::vector<std::string> out;
  size_t step = std::max<size_t>(1, sel.size() / std::max(1, max_passages));
  for (size_t k = 0; k < sel.size() && (int)out.size() < max_passages; k += step) out.push_back(sel[k]->text);
  return out;
}

std::vector<std::string> spun_eval_source_names(Lang lang) {
  std::vector<std::string> v;
  for (auto& s : eval_sources(lang)) v.push_back(s.name);
  return v;
}

std::vector<std::string> spun_eval_passages_all(Lang lang, int split, int max_passages, const std::string& source) {
  const auto& src = eval_sources(lang);
  // Each source's passages of the split, then quotas: an even share per source, what a
  // small source cannot fill going to the others; each source subsampled evenly.
  std::vector<std::vector<const Passage*>> sel;
  for (auto& s : src) {
    if (!source.empty() && s.name != source) continue;
    sel.emplace_back();
    for (const Passage& p : s.passages)
      if (p.split == split) sel.back().push_back(&p);
  }
  std::vector<size_t> quota(sel.size(), 0);
  size_t left = (size_t)std::max(0, max_passages);
  while (left > 0) {
    size_t open = 0;
    for (size_t i = 0; i < sel.size(); ++i) open += quota[i] < sel[i].size();
    if (!open) break;
    size_t share = std::max<size_t>(1, left / open);
    for (size_t i = 0; i < sel.size() && left > 0; ++i) {
      size_t add = std::min({share, sel[i].size() - quota[i], left});
      quota[i] += add;
      left -= add;
    }
  }
  std::vector<std::vector<std::string>> per(sel.size());
  for (size_t i = 0; i < sel.size(); ++i)
    for (size_t q = 0; q < quota[i]; ++q) per[i].push_back(sel[i][q * sel[i].size() / quota[i]]->text);
  std::vector<std::string> out;
  for (size_t k = 0;; ++k) {
    bool any = false;
    for (auto& v : per)
      if (k < v.size()) { out.push_back(v[k]); any = true; }
    if (!any) break;
  }
  return out;
}

}  // namespace veritas
