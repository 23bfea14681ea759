#include "veritas/data/curate.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "veritas/data/dedup.hpp"
#include "veritas/data/hygiene.hpp"
#include "veritas/data/jsonl.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/data/langid.hpp"
#include "veritas/data/normalize.hpp"
#include "veritas/util/config.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/text.hpp"
#include "veritas/util/thread_pool.hpp"
#include "veritas/util/timer.hpp"

namespace veritas {
namespace {

using json = nlohmann::json;
// Stage costs are CPU time, not wall time: on a busy machine a descheduled thread would
// otherwise charge its waiting to the stage. Reading the thread CPU clock is a system
// call (about 1 us), too dear per document and stage; so stages are timed with the
// monotonic clock (vDSO, no system call), and the thread CPU time of each run of
// documents is split between its stages in proportion to those timings (CpuSplit).
struct Clock {
  static double now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  }
};
inline double secs_between(double a, double b) { return b - a; }
double thread_cpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
struct CpuSplit {
  double cpu0 = thread_cpu();
  double cpu() const { return thread_cpu() - cpu0; }  // thread CPU seconds since construction
};

enum CoreStage { kInput, kVisibility, kNormalize, kLanguage, kExact, kNear, kNumCore };
const char* kCoreNames[kNumCore] = {"input", "visibility", "normalize", "language", "exact_dedup", "near_dedup"};
constexpr int kMaxStages = 16;

struct LanguageConfig {
  std::vector<std::string> keep = {"en", "zh"};
  double min_score = 0.5;
  static LanguageConfig from_json(const json& j) {
    LanguageConfig c;
    c.keep = get_or(j, "keep", c.keep);
    c.min_score = get_or(j, "min_score", c.min_score);
    for (auto& k : c.keep) check(k == "en" || k == "zh" || k == "other", "language.keep: unknown language '" + k + "'");
    return c;
  }
};

json section(const json& cfg, const char* name) {
  if (cfg.is_object() && cfg.contains(name) && cfg[name].is_object()) return cfg[name];
  return json::object();
}

struct Item {
  std::string line;
  bool too_long = false;
  uint32_t file_idx = 0;
  int64_t line_no = 0;
  Document doc;
  bool alive = true;
  int stage = -1;  // stage that dropped it
  Decision dec;
  DocSignature sig;
  int reached = 0;  // stages entered
  float secs[kMaxStages] = {};
  uint64_t bytes[kMaxStages] = {};
  std::string out;  // the output line (kept or rejected record)
};

// Scales the timings of stages [s0, s1) of items [lo, hi) to sum to cpu seconds.
void split_cpu(std::vector<Item>& b, int64_t lo, int64_t hi, int s0, int s1, double cpu) {
  double timed = 0;
  for (int64_t k = lo; k < hi; ++k)
    for (int s = s0; s < s1; ++s) timed += b[k].secs[s];
  if (timed <= 0) return;
  for (int64_t k = lo; k < hi; ++k)
    for (int s = s0; s < s1; ++s) b[k].secs[s] *= (float)(cpu / timed);
}

struct Pipeline {
  HygieneConfig hyg;
  VisibilityConfig vis;
  NormalizeConfig norm;
  LanguageConfig lang;
  DedupConfig dd;
  std::unique_ptr<MinHasher> mh;
  std::vector<FilterStage> filters;
  std::vector<std::string> stage_names;
  size_t batch_docs = 2048, batch_bytes = 16u << 20;

  Pipeline(const CurateOptions& opt) {
    const json& c = opt.config;
    check_curation_config_keys(c);
    hyg = HygieneConfig::from_json(section(c, "input"));
    vis = VisibilityConfig::from_json(section(c, "visibility"), opt.config_dir);
    norm = NormalizeConfig::from_json(section(c, "normalize"));
    lang = LanguageConfig::from_json(section(c, "language"));
    dd = DedupConfig::from_json(section(c, "dedup"));
    mh = std::make_unique<MinHasher>(dd);
    json p = section(c, "pipeline");
    batch_docs = get_or<size_t>(p, "batch_docs", batch_docs);
    batch_bytes = get_or<size_t>(p, "batch_bytes", batch_bytes);
    check(batch_docs >= 1, "pipeline.batch_docs must be at least 1");
    if (!opt.no_content_filters) filters = content_filters(c);
    if (!opt.after_spun.empty()) {
      auto at = std::find_if(filters.begin(), filters.end(), [](const FilterStage& f) { return f.name == "spun"; });
      check(at != filters.end(), "curate: a language-model spun stage needs the spun stage ([spun] enabled)");
      filters.insert(at + 1, opt.after_spun.begin(), opt.after_spun.end());
    }
    for (auto& f : opt.extra_filters) filters.push_back(f);
    for (auto* n : kCoreNames) stage_names.push_back(n);
    for (auto& f : filters) stage_names.push_back(f.name);
    check((int)stage_names.size() <= kMaxStages, "too many pipeline stages");
  }

  void drop(Item& it, int s, Decision d) {
    it.alive = false;
    it.stage = s;
    it.dec = std::move(d);
  }

  // Stages before dedup, and the dedup signature.
  void front(Item& it) const {
    auto t0 = Clock::now();
    auto lap = [&](int s, uint64_t bytes) {
      auto t1 = Clock::now();
      it.secs[s] += (float)secs_between(t0, t1);
      it.bytes[s] += bytes;
      it.reached = s + 1;
      t0 = t1;
    };
    Decision d = parse_document(it.line, it.too_long, hyg, it.doc);
    lap(kInput, it.line.size() + 1);
    if (!d.keep) return const_cast<Pipeline*>(this)->drop(it, kInput, std::move(d));
    d = check_visibility(it.doc, vis);
    lap(kVisibility, it.doc.text.size());
    if (!d.keep) return const_cast<Pipeline*>(this)->drop(it, kVisibility, std::move(d));
    uint64_t nb = it.doc.text.size();
    it.doc.text = normalize_text(it.doc.text, norm);
    if (!it.doc.title.empty()) it.doc.title = normalize_text(it.doc.title, norm);
    lap(kNormalize, nb);
    if (it.doc.text.empty()) return const_cast<Pipeline*>(this)->drop(it, kNormalize, Decision::drop("normalize.empty", "no text left after normalization"));
    LangResult lr = identify_language(it.doc.text);
    it.doc.lang = lr.lang;
    it.doc.lang_score = lr.score;
    lap(kLanguage, it.doc.text.size());
    const char* code = lang_code(lr.lang);
    char buf[96];
    if (std::find(lang.keep.begin(), lang.keep.end(), code) == lang.keep.end()) {
      std::snprintf(buf, sizeof buf, "%s (score %.2f; zh %.2f, en %.2f)", code, lr.score, lr.zh, lr.en);
      return const_cast<Pipeline*>(this)->drop(it, kLanguage, Decision::drop("language.not_kept", buf));
    }
    if (lr.score < lang.min_score) {
      std::snprintf(buf, sizeof buf, "%s score %.2f < %.2f", code, lr.score, lang.min_score);
      return const_cast<Pipeline*>(this)->drop(it, kLanguage, Decision::drop("language.low_score", buf));
    }
    // Signatures: the exact hash is charged to exact_dedup, MinHash to near_dedup.
    it.sig = mh->signature(it.doc.text, it.doc.lang);
    auto t1 = Clock::now();
    it.secs[kNear] += (float)secs_between(t0, t1);
    it.bytes[kExact] += it.doc.text.size();
    it.bytes[kNear] += it.doc.text.size();
  }

  // Content filters after dedup, one filter at a time over a thread's run of documents,
  // so a filter's tables stay cached across the run instead of being evicted between
  // documents by the other filters' (above all the spun scorer's ~60 MB). Each document
  // still passes the filters in order and leaves at its first drop.
  void back(std::vector<Item>& b, int64_t lo, int64_t hi) const {
    for (size_t f = 0; f < filters.size(); ++f) {
      int s = kNumCore + (int)f;
      for (int64_t k = lo; k < hi; ++k) {
        Item& it = b[k];
        if (!it.alive) continue;
        auto t0 = Clock::now();
        uint64_t nb = it.doc.text.size();
        Decision d = filters[f].run(it.doc);
        it.secs[s] += (float)secs_between(t0, Clock::now());
        it.bytes[s] += nb;
        it.reached = s + 1;
        if (!d.keep) const_cast<Pipeline*>(this)->drop(it, s, std::move(d));
      }
    }
  }
};

json rejected_record(const std::string& id, bool has_id, const std::string& stage, const std::string& reason,
                     const std::string& detail, const std::string& file, int64_t line) {
  json r;
  r["id"] = has_id ? json(id) : json(nullptr);
  r["stage"] = stage;
  r["reason"] = reason;
  r["detail"] = detail;
  r["file"] = file;
  r["line"] = line;
  return r;
}

std::string dump_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

// The kept record: the input fields with text, lang and scores replaced, keys sorted
// (the layout nlohmann::json::dump gave these records).
void write_kept(const Document& d, std::string& out) {
  // scores: lang first, then the filters'; sorted by key, a later duplicate wins.
  thread_local std::vector<std::pair<std::string_view, double>> sc;  // reused: no allocation per record
  sc.clear();
  sc.emplace_back("lang", std::round(d.lang_score * 1e4) / 1e4);
  for (auto& [k, v] : d.scores) sc.emplace_back(k, v);
  for (size_t i = 1; i < sc.size(); ++i)  // stable insertion sort: a dozen entries
    for (size_t j = i; j > 0 && sc[j].first < sc[j - 1].first; --j) std::swap(sc[j], sc[j - 1]);
  out.reserve(d.text.size() + d.text.size() / 8 + 256);
  out += '{';
  bool first = true;
  auto key = [&](std::string_view k) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, k);
    out += ':';
  };
  auto put_replaced = [&](std::string_view k) {
    key(k);
    if (k == "lang") {
      append_json_string(out, lang_code(d.lang));
    } else if (k == "scores") {
      out += '{';
      for (size_t i = 0; i < sc.size(); ++i) {
        if (i + 1 < sc.size() && sc[i + 1].first == sc[i].first) continue;
        if (out.back() != '{') out += ',';
        append_json_string(out, sc[i].first);
        out += ':';
        append_json_number(out, sc[i].second);
      }
      out += '}';
    } else {
      append_json_string(out, d.text);
    }
  };
  static constexpr std::string_view kReplaced[] = {"lang", "scores", "text"};  // sorted
  size_t r = 0;
  for (const Field& f : d.fields) {
    while (r < 3 && kReplaced[r] < f.key) put_replaced(kReplaced[r++]);
    if (r < 3 && kReplaced[r] == f.key) {
      put_replaced(kReplaced[r++]);
      continue;
    }
    // Input fields come from validated UTF-8 (and JSON escapes decode to valid UTF-8).
    if (!first) out += ',';
    first = false;
    append_json_string_valid(out, f.key);
    out += ':';
    if (f.type == Field::String) append_json_string_valid(out, f.value);
    else out += f.value;
  }
  while (r < 3) put_replaced(kReplaced[r++]);
  out += "}\n";
}

// {"detail","file","id","line","reason","stage"}: the key order of the json object
// these records were built as.
void write_rejected(std::string& out, const std::string* id, std::string_view stage, std::string_view reason,
                    std::string_view detail, std::string_view file, int64_t line) {
  out += "{\"detail\":";
  append_json_string(out, detail);
  out += ",\"file\":";
  append_json_string(out, file);
  out += ",\"id\":";
  if (id) append_json_string(out, *id);
  else out += "null";
  out += ",\"line\":";
  out += std::to_string(line);
  out += ",\"reason\":";
  append_json_string(out, reason);
  out += ",\"stage\":";
  append_json_string(out, stage);
  out += "}\n";
}

void serialize(const Pipeline& p, Item& it, const std::vector<std::string>& inputs) {
  it.out.clear();
  if (it.alive) return write_kept(it.doc, it.out);
  bool has_id = it.stage != kInput || !it.doc.id.empty();
  write_rejected(it.out, has_id ? &it.doc.id : nullptr, p.stage_names[it.stage], it.dec.reason, it.dec.detail,
                 inputs[it.file_idx], it.line_no);
}

std::string fingerprint(const CurateOptions& opt, const std::vector<uint32_t>& files) {
  json f;
  f["inputs"] = opt.inputs;
  f["files"] = files;
  f["config"] = opt.config;
  f["tasks"] = opt.tasks;
  f["task"] = opt.task;
  std::string s = f.dump();
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)XXH3_64bits(s.data(), s.size()));
  return buf;
}

void write_card(const fs::path& dir, const CurationStats& st) {
  atomic_write_file(dir / "card.json", st.to_json().dump(2) + "\n");
  atomic_write_file(dir / "card.md", st.to_markdown());
}

uint64_t peak_rss() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  uint64_t kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::strtoull(line + 6, nullptr, 10);
  std::fclose(f);
  return kb * 1024;
}

struct OrderWriter {
  std::unique_ptr<AtomicFile> f;
  void add(uint64_t k) {
    if (f) f->write(&k, 8);
  }
};

}  // namespace

CurateResult run_curate(const CurateOptions& opt) {
  check(!opt.inputs.empty(), "curate: no input files");
  check(!opt.out_dir.empty(), "curate: no output folder (-o)");
  bool task_mode = opt.tasks > 0;
  if (task_mode) check(opt.task >= 0 && opt.task < opt.tasks, "curate: --task must be in [0, --tasks)");
  Pipeline p(opt);
  std::vector<uint32_t> files;
  for (uint32_t i = 0; i < opt.inputs.size(); ++i)
    if (!task_mode || (int)(i % opt.tasks) == opt.task) files.push_back(i);
  for (auto i : files) check(opt.inputs[i] == "-" || fs::exists(opt.inputs[i]), "curate: input not found: " + opt.inputs[i]);

  fs::path dir = task_mode ? fs::path(opt.out_dir) / ("task-" + std::to_string(opt.task)) : fs::path(opt.out_dir);
  std::string fp = fingerprint(opt, files);
  CurateResult res;
  res.dir = dir.string();
  if (task_mode && fs::exists(dir / "DONE")) {
    json done = json::parse(read_file(dir / "DONE"), nullptr, false);
    if (!done.is_discarded() && done.value("fingerprint", "") == fp) {
      res.skipped = true;
      res.stats = CurationStats::from_json(json::parse(read_file(dir / "card.json")));
      return res;
    }
    fs::remove(dir / "DONE");  // stale: different inputs or config; redo
  }
  fs::create_directories(dir);

  AtomicFile kept(dir / "kept.jsonl"), rejected(dir / "rejected.jsonl");
  // 1 MiB stdio buffers: one write call per MiB instead of one per 4 KiB.
  std::setvbuf(kept.file(), nullptr, _IOFBF, 1 << 20);
  std::setvbuf(rejected.file(), nullptr, _IOFBF, 1 << 20);
  OrderWriter kept_order, rej_order;
  std::unique_ptr<AtomicFile> sigfile;
  std::unique_ptr<SignatureWriter> sigw;
  if (task_mode) {
    kept_order.f = std::make_unique<AtomicFile>(dir / "kept.order");
    rej_order.f = std::make_unique<AtomicFile>(dir / "rejected.order");
    sigfile = std::make_unique<AtomicFile>(dir / "signatures.bin");
    sigw = std::make_unique<SignatureWriter>(sigfile->file(), p.dd);
  }

  CurationStats st;
  st.stages = p.stage_names;
  st.threads = ThreadPool::global().size();
  for (auto i : files) st.inputs.push_back(opt.inputs[i]);
  st.notes = opt.notes;
  DedupIndex index(p.dd);
  Timer wall;
  double serial_dedup[2] = {0, 0};

  int64_t total_bytes = 0;
  for (auto i : files)
    if (opt.inputs[i] != "-") total_bytes += (int64_t)fs::file_size(opt.inputs[i]);
  Progress prog(task_mode ? "curate task " + std::to_string(opt.task) : "curate", total_bytes, "B");
  int64_t done_bytes = 0;

  std::vector<StageStats*> stage_stats;  // by stage index (map nodes do not move)
  for (auto& n : p.stage_names) stage_stats.push_back(&st.stage[n]);
  uint64_t lang_in[3] = {}, lang_kept[3] = {};  // by Lang; into the card's maps at the end

  std::vector<Item> batch;
  batch.reserve(std::min<size_t>(p.batch_docs, 1 << 16));
  // Line and output buffers of the last batch, reused: fewer allocations and page faults.
  std::vector<std::pair<std::string, std::string>> spare;
  auto process = [&](std::vector<Item>& b) {
    auto& pool = ThreadPool::global();
    pool.parallel_for((int64_t)b.size(), [&](int64_t lo, int64_t hi) {
      CpuSplit cs;
      for (int64_t k = lo; k < hi; ++k) p.front(b[k]);
      split_cpu(b, lo, hi, 0, kNumCore, cs.cpu());
    });
    // Dedup: serial, in input order.
    CpuSplit dedup_cs;
    double dedup_secs[2] = {0, 0};
    for (auto& it : b) {
      if (!it.alive) continue;
      auto t0 = Clock::now();
      if (sigw) sigw->add({order_key(it.file_idx, it.line_no), it.doc.id, it.sig});
      DedupIndex::Result r = index.add(it.doc.id, it.sig);
      double dt = secs_between(t0, Clock::now());
      it.reached = kNear + 1;
      if (r.kind == DedupIndex::Result::Exact) {
        it.reached = kExact + 1;
        // Its MinHash signature was computed (in parallel, before this check) for
        // nothing: the stage that drops it pays for it.
        it.secs[kExact] += it.secs[kNear];
        it.secs[kNear] = 0;
        dedup_secs[0] += dt;
        p.drop(it, kExact, Decision::drop("dedup.exact", "same normalized text as " + r.root_id));
      } else if (r.kind == DedupIndex::Result::Near) {
        dedup_secs[1] += dt;
        p.drop(it, kNear, Decision::drop("dedup.near", "near duplicate of " + r.root_id + " (band " + std::to_string(r.band) + ")"));
      } else {
        dedup_secs[1] += dt;
      }
    }
    double timed = dedup_secs[0] + dedup_secs[1], cpu = dedup_cs.cpu();
    if (timed > 0) {
      serial_dedup[0] += cpu * dedup_secs[0] / timed;
      serial_dedup[1] += cpu * dedup_secs[1] / timed;
    }
    pool.parallel_for((int64_t)b.size(), [&](int64_t lo, int64_t hi) {
      CpuSplit cs;
      p.back(b, lo, hi);
      split_cpu(b, lo, hi, kNumCore, kMaxStages, cs.cpu());
      for (int64_t k = lo; k < hi; ++k) serialize(p, b[k], opt.inputs);
    });
    for (auto& it : b) {
      ++st.lines_in;
      st.bytes_in += it.line.size() + 1;
      for (int s = 0; s < it.reached; ++s) {
        auto& ss = *stage_stats[s];
        ++ss.docs_in;
        if (it.alive || s != it.stage) ++ss.docs_out;
        ss.bytes_in += it.bytes[s];
        ss.cpu_seconds += it.secs[s];
      }
      if (it.reached > kLanguage) ++lang_in[(int)it.doc.lang];
      uint64_t key = order_key(it.file_idx, it.line_no);
      if (it.alive) {
        ++st.kept;
        st.bytes_kept += it.doc.text.size();
        ++lang_kept[(int)it.doc.lang];
        kept.write(it.out);
        kept_order.add(key);
      } else {
        st.reject(p.stage_names[it.stage], it.dec.reason);
        // Only the first few examples of a reason are kept: build them only then.
        if (st.examples[it.dec.reason].size() < CurationStats::kExamples) {
          json ex = {{"detail", it.dec.detail}, {"file", opt.inputs[it.file_idx]}, {"line", it.line_no}};
          if (!it.doc.id.empty()) ex["id"] = it.doc.id;
          st.add_example(it.dec.reason, ex);
        }
        rejected.write(it.out);
        rej_order.add(key);
      }
    }
    for (auto& it : b)
      if (it.line.capacity() <= (1u << 20) && it.out.capacity() <= (1u << 20))
        spare.emplace_back(std::move(it.line), std::move(it.out));
    b.clear();
  };

  for (uint32_t fi : files) {
    LineReader reader(opt.inputs[fi], p.hyg.max_line_bytes);
    size_t batch_size_bytes = 0;
    uint64_t last_bytes = 0;
    for (;;) {
      Item& it = batch.emplace_back();
      if (!spare.empty()) {
        it.line = std::move(spare.back().first);
        it.out = std::move(spare.back().second);
        spare.pop_back();
      }
      if (!reader.next(it.line, &it.too_long)) {
        batch.pop_back();
        break;
      }
      it.file_idx = fi;
      it.line_no = reader.line_number();
      batch_size_bytes += it.line.size();
      if (batch.size() >= p.batch_docs || batch_size_bytes >= p.batch_bytes) {
        process(batch);
        batch_size_bytes = 0;
        done_bytes += (int64_t)(reader.bytes() - last_bytes);
        last_bytes = reader.bytes();
        prog.update(done_bytes, std::to_string(st.kept) + " kept");
      }
    }
    process(batch);
    done_bytes += (int64_t)(reader.bytes() - last_bytes);
    prog.update(done_bytes, std::to_string(st.kept) + " kept");
  }
  for (Lang l : {Lang::En, Lang::Zh, Lang::Other}) {
    if (lang_in[(int)l]) st.lang_in[lang_code(l)] += lang_in[(int)l];
    if (lang_kept[(int)l]) st.lang_kept[lang_code(l)] += lang_kept[(int)l];
  }
  st.stage[kCoreNames[kExact]].cpu_seconds += serial_dedup[0];
  st.stage[kCoreNames[kNear]].cpu_seconds += serial_dedup[1];
  st.clusters = index.cluster_histogram();
  st.dedup_docs = index.documents();
  st.dedup_state_bytes = index.state_bytes();
  st.wall_seconds = wall.seconds();
  st.peak_rss_bytes = peak_rss();
  prog.finish(std::to_string(st.kept) + " kept, " + std::to_string(st.rejected) + " rejected");
  check(st.balanced(), "curate: internal error: documents in != kept + rejected");

  kept.commit();
  rejected.commit();
  if (task_mode) {
    kept_order.f->commit();
    rej_order.f->commit();
    std::fflush(sigfile->file());
    sigfile->commit();
  }
  write_card(dir, st);
  if (task_mode) {
    json done = {{"fingerprint", fp}, {"task", opt.task}, {"tasks", opt.tasks}, {"inputs", opt.inputs},
                 {"dedup", json::parse(read_file(dir / "card.json"))["dedup"]}};
    atomic_write_file(dir / "DONE", done.dump(2) + "\n");
  }
  res.stats = std::move(st);
  return res;
}

// ---- merge of task outputs ----

namespace {

// A task output stream (kept or rejected) read with its order file.
struct OrderedLines {
  std::unique_ptr<LineReader> lines;
  std::FILE* order = nullptr;
  std::string path, line;
  uint64_t key = UINT64_MAX;
  bool kept = false;
  int task = 0;
  OrderedLines(const fs::path& jsonl, const fs::path& ord, bool is_kept, int t) : path(jsonl.string()), kept(is_kept), task(t) {
    lines = std::make_unique<LineReader>(jsonl.string(), (size_t)1 << 30);
    order = std::fopen(ord.c_str(), "rb");
    check(order != nullptr, "cannot open " + ord.string());
    advance();
  }
  ~OrderedLines() {
    if (order) std::fclose(order);
  }
  void advance() {
    uint64_t k;
    bool has_line = lines->next(line);
    bool has_key = std::fread(&k, 8, 1, order) == 1;
    check(has_line == has_key, path + ": order file does not match the lines (line " + std::to_string(lines->line_number()) + ")");
    key = has_line ? k : UINT64_MAX;
  }
};

}  // namespace

CurateResult merge_curate_tasks(const std::string& out_dir, int tasks) {
  check(tasks >= 1, "curate dedup: --tasks must be at least 1");
  fs::path out(out_dir);
  std::vector<json> done(tasks);
  for (int t = 0; t < tasks; ++t) {
    fs::path d = out / ("task-" + std::to_string(t));
    check(fs::exists(d / "DONE"), "curate dedup: task " + std::to_string(t) + " is not complete (no " + (d / "DONE").string() + ")");
    done[t] = json::parse(read_file(d / "DONE"), nullptr, false);
    check(!done[t].is_discarded(), (d / "DONE").string() + ": corrupt completion marker");
    check(done[t].value("tasks", 0) == tasks, "curate dedup: " + (d / "DONE").string() + " belongs to a run with " +
                                                 std::to_string(done[t].value("tasks", 0)) + " tasks, not " + std::to_string(tasks));
    check(done[t]["inputs"] == done[0]["inputs"], "curate dedup: tasks were run on different input lists");
  }
  std::vector<std::string> inputs = done[0]["inputs"];
  CurationStats st;
  std::vector<std::unique_ptr<SignatureReader>> sigs;
  for (int t = 0; t < tasks; ++t) {
    fs::path d = out / ("task-" + std::to_string(t));
    CurationStats ts = CurationStats::from_json(json::parse(read_file(d / "card.json")));
    ts.examples.clear();  // rebuilt below in global input order
    ts.clusters.clear();
    st.merge(ts);
    sigs.push_back(std::make_unique<SignatureReader>((d / "signatures.bin").string()));
  }
  for (int t = 1; t < tasks; ++t) {
    const auto& a = sigs[0]->config();
    const auto& b = sigs[t]->config();
    check(a.bands == b.bands && a.rows == b.rows && a.seed == b.seed && a.word_ngram == b.word_ngram &&
              a.char_ngram == b.char_ngram && a.exact == b.exact && a.near == b.near,
          "curate dedup: tasks used different dedup settings");
  }
  DedupIndex index(sigs[0]->config());
  // Signature streams, each already in order; the k-way merge replays dedup globally.
  std::vector<SignatureRecord> head(tasks);
  std::vector<bool> has(tasks);
  for (int t = 0; t < tasks; ++t) has[t] = sigs[t]->next(head[t]);
  struct Global { uint64_t key = UINT64_MAX; DedupIndex::Result r; std::string id; };
  Global cur;
  auto replay_until = [&](uint64_t key) -> const Global* {
    for (;;) {
      if (cur.key == key) return &cur;
      if (cur.key != UINT64_MAX && cur.key > key) return nullptr;
      int best = -1;
      for (int t = 0; t < tasks; ++t)
        if (has[t] && (best < 0 || head[t].order < head[best].order)) best = t;
      if (best < 0) return nullptr;
      cur.key = head[best].order;
      cur.id = head[best].id;
      cur.r = index.add(head[best].id, head[best].sig);
      has[best] = sigs[best]->next(head[best]);
    }
  };

  std::vector<std::unique_ptr<OrderedLines>> streams;
  for (int t = 0; t < tasks; ++t) {
    fs::path d = out / ("task-" + std::to_string(t));
    streams.push_back(std::make_unique<OrderedLines>(d / "kept.jsonl", d / "kept.order", true, t));
    streams.push_back(std::make_unique<OrderedLines>(d / "rejected.jsonl", d / "rejected.order", false, t));
  }
  AtomicFile kept(out / "kept.jsonl"), rejected(out / "rejected.jsonl"), drops(out / "dedup-drops.jsonl");
  st.examples.clear();
  // A document that now leaves the pipeline at stage new_leave instead of old_leave
  // (old_leave == stages.size(): it was kept): fix the per-stage in/out counts.
  auto stage_index = [&](const std::string& name) {
    auto it = std::find(st.stages.begin(), st.stages.end(), name);
    return (size_t)(it - st.stages.begin());
  };
  auto move_leave = [&](size_t old_leave, size_t new_leave) {
    for (size_t k = new_leave; k < st.stages.size() && k <= old_leave; ++k) {
      auto& ss = st.stage[st.stages[k]];
      if (k == new_leave) --ss.docs_out;
      else if (k == old_leave) --ss.docs_in;
      else { --ss.docs_in; --ss.docs_out; }
    }
  };
  uint64_t moved = 0;
  for (;;) {
    OrderedLines* s = nullptr;
    for (auto& x : streams)
      if (x->key != UINT64_MAX && (!s || x->key < s->key)) s = x.get();
    if (!s) break;
    uint64_t key = s->key;
    uint32_t fi = (uint32_t)(key >> 40);
    int64_t line_no = (int64_t)(key & ((1ULL << 40) - 1));
    const Global* g = replay_until(key);
    bool global_dup = g && g->r.kind != DedupIndex::Result::Unique;
    std::string stage, reason, detail;
    if (global_dup) {
      bool exact = g->r.kind == DedupIndex::Result::Exact;
      stage = exact ? "exact_dedup" : "near_dedup";
      reason = exact ? "dedup.exact" : "dedup.near";
      detail = exact ? "same normalized text as " + g->r.root_id
                     : "near duplicate of " + g->r.root_id + " (band " + std::to_string(g->r.band) + ")";
    }
    if (s->kept) {
      if (!global_dup) {
        kept.write(s->line);
        kept.write("\n");
      } else {
        // Kept by its task, a duplicate of a document in another task.
        json doc = json::parse(s->line);
        std::string text = doc.value("text", "");
        std::string lang = doc.value("lang", "other");
        --st.kept;
        st.bytes_kept -= text.size();
        --st.lang_kept[lang];
        st.reject(stage, reason);
        move_leave(st.stages.size(), stage_index(stage));
        json r = rejected_record(doc.value("id", ""), true, stage, reason, detail, inputs[fi], line_no);
        rejected.write(dump_line(r));
        st.add_example(reason, {{"id", r["id"]}, {"detail", detail}, {"file", inputs[fi]}, {"line", line_no}});
        drops.write(dump_line({{"id", r["id"]}, {"task", s->task}, {"file", inputs[fi]}, {"line", line_no},
                               {"reason", reason}, {"detail", detail}}));
        ++moved;
      }
    } else {
      json r = json::parse(s->line);
      std::string old_reason = r.value("reason", "");
      if (old_reason == "dedup.exact" || old_reason == "dedup.near")
        check(global_dup, "curate dedup: " + s->path + ": a local duplicate is unique in the merged order (corrupt task output?)");
      if (global_dup && old_reason != reason) {
        // A near duplicate in its task that is an exact copy of an earlier document
        // elsewhere, or a document a later filter dropped: dedup comes first.
        --st.reasons[old_reason];
        if (st.reasons[old_reason] == 0) st.reasons.erase(old_reason);
        ++st.reasons[reason];
        move_leave(stage_index(r.value("stage", "")), stage_index(stage));
      }
      if (global_dup) {
        r["stage"] = stage;
        r["reason"] = reason;
        r["detail"] = detail;
        rejected.write(dump_line(r));
      } else {
        rejected.write(s->line);
        rejected.write("\n");
      }
      json ex = {{"detail", r["detail"]}, {"file", r["file"]}, {"line", r["line"]}};
      if (r["id"].is_string()) ex["id"] = r["id"];
      st.add_example(r["reason"], ex);
    }
    s->advance();
  }
  st.clusters = index.cluster_histogram();
  st.dedup_docs = index.documents();
  st.dedup_state_bytes = index.state_bytes();
  st.peak_rss_bytes = std::max(st.peak_rss_bytes, peak_rss());
  check(st.balanced(), "curate dedup: internal error: documents in != kept + rejected");
  kept.commit();
  rejected.commit();
  drops.commit();
  write_card(out, st);
  CurateResult res;
  res.stats = std::move(st);
  res.dir = out.string();
  (void)moved;
  return res;
}

}  // namespace veritas
