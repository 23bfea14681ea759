#include "veritas/eval/harness.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>

#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/svg.hpp"
#include "veritas/util/timer.hpp"

namespace veritas::eval {

std::vector<Task> load_tasks(const std::vector<std::string>& suites, int n, uint64_t seed, const std::string& split,
                             const std::string& tasks_file, const nlohmann::json& difficulty) {
  std::vector<Task> tasks;
  if (!tasks_file.empty()) {
    for (auto& t : read_tasks_jsonl(tasks_file))
      if (suites.empty() || std::find(suites.begin(), suites.end(), t.suite) != suites.end()) tasks.push_back(std::move(t));
    check(!tasks.empty(), "no tasks in " + tasks_file + (suites.empty() ? "" : " for the chosen suites"));
    return tasks;
  }
  check(!suites.empty(), "choose at least one suite (--suite) or a tasks file (--tasks)");
  check(n >= 1, "--n must be at least 1");
  const auto& known = suite_names();
  for (const auto& s : suites) {
    if (std::find(known.begin(), known.end(), s) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw Error("unknown suite '" + s + "' (known: " + list + ")");
    }
    SuiteOptions so;
    so.suite = s;
    so.n = n;
    so.seed = seed;
    so.split = split;
    so.difficulty = difficulty;
    for (auto& t : generate_tasks(so)) tasks.push_back(std::move(t));
  }
  return tasks;
}

EvalRun run_eval(std::vector<Task> tasks, Answerer& answerer, const EvalOptions& opts) {
  check(opts.samples >= 1, "--samples must be at least 1");
  check(!tasks.empty(), "nothing to evaluate: no tasks");
  EvalRun run;
  run.tasks = std::move(tasks);
  run.describe = answerer.describe();
  const size_t n = run.tasks.size();
  const int k = opts.samples;
  run.answers.resize(n * k);
  int workers = opts.parallel > 0 ? opts.parallel : answerer.max_parallel();
  workers = std::max(1, std::min<int>(workers, (int)n));

  Timer timer;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex mu;
  int64_t done = 0, correct = 0, scored = 0;
  std::optional<Progress> progress;
  if (opts.progress) progress.emplace("eval", (int64_t)n, "q");
  auto work = [&] {
    for (size_t i; !failed && (i = next.fetch_add(1)) < n;) {
      try {
        const Task& t = run.tasks[i];
        Timer tt;
        auto texts = answerer.answer(t, k);
        check((int)texts.size() == k, "answerer returned " + std::to_string(texts.size()) + " answers for task " +
                                          t.id + ", expected " + std::to_string(k));
        double secs = tt.seconds();
        int64_t c = 0;
        for (int s = 0; s < k; ++s) {
          AnswerRecord& r = run.answers[i * k + s];
          r.task = i;
          r.sample = s;
          r.text = std::move(texts[s]);
          r.score = verify(t, r.text);
          r.seconds = secs;
          c += r.score.verdict == Verdict::Correct;
        }
        std::lock_guard<std::mutex> lock(mu);
        ++done;
        correct += c;
        scored += k;
        if (opts.progress) {
          char status[64];
          std::snprintf(status, sizeof status, "correct %.1f%%", 100.0 * (double)correct / (double)scored);
          progress->update(done, status);
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  // Plain threads, not the CPU pool: these mostly wait on the network.
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  if (progress) progress->finish();
  if (error) std::rethrow_exception(error);

  // Groups: overall, each suite, each (suite, difficulty knobs).
  std::vector<const AnswerRecord*> all;
  std::map<std::string, std::vector<const AnswerRecord*>> by_suite;
  std::map<std::string, std::vector<const AnswerRecord*>> by_suite_lang;  // "suite/lang"
  std::map<std::pair<std::string, std::string>, std::vector<const AnswerRecord*>> by_diff;
  std::map<std::pair<std::string, std::string>, nlohmann::json> diff_json;
  for (const auto& r : run.answers) {
    const Task& t = run.tasks[r.task];
    all.push_back(&r);
    by_suite[t.suite].push_back(&r);
    by_suite_lang[t.suite + "/" + (t.lang.empty() ? "?" : t.lang)].push_back(&r);
    std::string dk = t.difficulty.is_null() ? "{}" : t.difficulty.dump();
    by_diff[{t.suite, dk}].push_back(&r);
    diff_json[{t.suite, dk}] = t.difficulty.is_null() ? nlohmann::json::object() : t.difficulty;
  }
  nlohmann::json& res = run.results;
  res["evaluated"] = run.describe;
  res["config"] = opts.config;
  res["prompt"] = answerer.prompt();
  res["samples"] = k;
  res["tasks"] = n;
  res["seconds"] = timer.seconds();
  res["overall"] = summarize(all, k);
  res["suites"] = nlohmann::json::object();
  for (const auto& [s, v] : by_suite) res["suites"][s] = summarize(v, k);
  res["suite_lang"] = nlohmann::json::object();
  for (const auto& [s, v] : by_suite_lang) res["suite_lang"][s] = summarize(v, k);
  // Difficulty groups keep the scalars only (bins and curves are overall and per suite).
  auto scalars = [](nlohmann::json g) {
    if (g["calibration"].is_object()) g["calibration"].erase("bins");
    if (g["risk_coverage"].is_object()) {
      g["risk_coverage"].erase("coverage");
      g["risk_coverage"].erase("risk");
    }
    return g;
  };
  res["difficulty"] = nlohmann::json::array();
  for (const auto& [key, v] : by_diff) {
    nlohmann::json g = scalars(summarize(v, k));
    g["suite"] = key.first;
    g["difficulty"] = diff_json[key];
    res["difficulty"].push_back(std::move(g));
  }
  // One knob at a time (all other knobs mixed): how the rates move with digits, steps, ...
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<const AnswerRecord*>> by_knob;
  std::map<std::tuple<std::string, std::string, std::string>, nlohmann::json> knob_value;
  for (const auto& r : run.answers) {
    const Task& t = run.tasks[r.task];
    if (!t.difficulty.is_object()) continue;
    for (auto it = t.difficulty.begin(); it != t.difficulty.end(); ++it) {
      std::tuple<std::string, std::string, std::string> key{t.suite, it.key(), it.value().dump()};
      by_knob[key].push_back(&r);
      knob_value[key] = it.value();
    }
  }
  res["difficulty_knobs"] = nlohmann::json::array();
  for (const auto& [key, v] : by_knob) {
    nlohmann::json g = scalars(summarize(v, k));
    g["suite"] = std::get<0>(key);
    g["knob"] = std::get<1>(key);
    g["value"] = knob_value[key];
    res["difficulty_knobs"].push_back(std::move(g));
  }
  // Numeric knob values in numeric order (2 before 12).
  auto& knobs = res["difficulty_knobs"];
  std::stable_sort(knobs.begin(), knobs.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    if (a["suite"] != b["suite"]) return a["suite"] < b["suite"];
    if (a["knob"] != b["knob"]) return a["knob"] < b["knob"];
    return a["value"] < b["value"];
  });
  return run;
}

nlohmann::json summarize(const std::vector<const AnswerRecord*>& answers, int k) {
  Split split;
  std::vector<Judgement> judged;
  int64_t attempted_without_confidence = 0;
  for (const auto* r : answers) {
    split.add(r->score.verdict);
    bool attempted = r->score.verdict == Verdict::Correct || r->score.verdict == Verdict::Wrong;
    if (!attempted) continue;
    if (r->score.confidence) judged.push_back({std::clamp(*r->score.confidence, 0.0, 1.0), r->score.verdict == Verdict::Correct});
    else ++attempted_without_confidence;
  }
  nlohmann::json j = split.to_json();
  j["tasks"] = (int64_t)(answers.size() / std::max(1, k));
  j["attempted_without_confidence"] = attempted_without_confidence;
  auto cal = calibration(judged, 15);
  j["calibration"] = cal ? cal->to_json() : nlohmann::json();
  auto rc = risk_coverage(judged);
  j["risk_coverage"] = rc ? rc->to_json() : nlohmann::json();
  if (k > 1) {
    // Answers are task-major: k consecutive records per task.
    std::vector<int64_t> ks;
    for (int64_t x = 1; x < k; x *= 2) ks.push_back(x);
    ks.push_back(k);
    std::vector<double> pass(ks.size(), 0.0);
    double maj = 0;
    int64_t tasks = 0;
    for (size_t i = 0; i + k <= answers.size(); i += k) {
      int64_t c = 0;
      std::vector<Vote> votes;
      for (int s = 0; s < k; ++s) {
        const auto* r = answers[i + s];
        c += r->score.verdict == Verdict::Correct;
        votes.push_back({vote_key(r->text, r->score.verdict), r->score.verdict});
      }
      for (size_t q = 0; q < ks.size(); ++q) pass[q] += pass_at_k(k, c, ks[q]);
      maj += majority_correct(votes);
      ++tasks;
    }
    nlohmann::json pj = nlohmann::json::object();
    for (size_t q = 0; q < ks.size(); ++q) pj["pass@" + std::to_string(ks[q])] = tasks ? pass[q] / tasks : 0.0;
    j["pass_at_k"] = pj;
    j["majority_at_k"] = tasks ? maj / tasks : 0.0;
  }
  return j;
}

// ---- report -----------------------------------------------------------------------------

static std::string pct(const nlohmann::json& v) {
  if (!v.is_number()) return "–";
  char b[32];
  std::snprintf(b, sizeof b, "%.1f%%", 100.0 * v.get<double>());
  return b;
}
static std::string fix(const nlohmann::json& v, int digits = 3) {
  if (!v.is_number()) return "–";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v.get<double>());
  return b;
}

static std::string table_header(int k) {
  std::string h = "| group | tasks | correct | wrong | abstained | malformed | accuracy when attempted | ECE | Brier | AURC |";
  std::string s = "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |";
  if (k > 1) {
    h += " pass@1 | pass@" + std::to_string(k) + " | majority@" + std::to_string(k) + " |";
    s += " ---: | ---: | ---: |";
  }
  return h + "\n" + s + "\n";
}

static std::string table_row(const std::string& name, const nlohmann::json& g, int k) {
  std::string r = "| " + name + " | " + std::to_string(g.value("tasks", 0)) + " | " + pct(g["correct_rate"]) + " | " +
                  pct(g["wrong_rate"]) + " | " + pct(g["abstained_rate"]) + " | " + pct(g["malformed_rate"]) + " | " +
                  pct(g["accuracy_attempted"]) + " | ";
  const auto& cal = g["calibration"];
  const auto& rc = g["risk_coverage"];
  r += (cal.is_object() ? fix(cal["ece"]) : "–") + " | " + (cal.is_object() ? fix(cal["brier"]) : "–") + " | " +
       (rc.is_object() ? fix(rc["aurc"]) : "–") + " |";
  if (k > 1) {
    const auto& p = g["pass_at_k"];
    r += " " + pct(p["pass@1"]) + " | " + pct(p["pass@" + std::to_string(k)]) + " | " + pct(g["majority_at_k"]) + " |";
  }
  return r + "\n";
}

std::string report_markdown(const EvalRun& run) {
  const auto& res = run.results;
  int k = res.value("samples", 1);
  const auto& o = res["overall"];
  std::string md = "# Truth evaluation\n\n";
  md += "Evaluated: " + run.describe + ".  \n";
  md += "Tasks: " + std::to_string(run.tasks.size()) + ", answers per task: " + std::to_string(k) + ", time: " +
        format_duration(res.value("seconds", 0.0)) + ".  \n";
  md += "Task selection: `" + res["config"].dump() + "`.  \n";
  md += "Prompt: `" + (res.contains("prompt") ? res["prompt"].dump() : std::string("null")) + "`.\n\n";
  md += "Every answer is scored by a verifier that computes the truth (docs/answer-protocol.md). Rates are over all "
        "answers; *accuracy when attempted* is correct / (correct + wrong); calibration (ECE with 15 equal-width "
        "bins, Brier) and risk–coverage use the attempted answers that stated a confidence. Formulas: docs/eval.md.\n\n";
  md += "## Overall\n\n";
  md += "| metric | value |\n| --- | ---: |\n";
  md += "| correct | " + pct(o["correct_rate"]) + " (" + std::to_string(o.value("correct", 0)) + ") |\n";
  md += "| wrong | " + pct(o["wrong_rate"]) + " (" + std::to_string(o.value("wrong", 0)) + ") |\n";
  md += "| abstained | " + pct(o["abstained_rate"]) + " (" + std::to_string(o.value("abstained", 0)) + ") |\n";
  md += "| malformed | " + pct(o["malformed_rate"]) + " (" + std::to_string(o.value("malformed", 0)) + ") |\n";
  md += "| accuracy when attempted | " + pct(o["accuracy_attempted"]) + " |\n";
  md += "| F-score (SimpleQA) | " + fix(o["f_score"]) + " |\n";
  const auto& cal = o["calibration"];
  const auto& rc = o["risk_coverage"];
  if (cal.is_object()) {
    md += "| answers with a confidence | " + std::to_string(cal.value("count", 0)) + " |\n";
    md += "| expected calibration error (15 bins) | " + fix(cal["ece"], 4) + " |\n";
    md += "| Brier score | " + fix(cal["brier"], 4) + " |\n";
  } else {
    md += "| calibration | no attempted answer stated a confidence |\n";
  }
  if (rc.is_object()) {
    md += "| AURC (risk–coverage area) | " + fix(rc["aurc"], 4) + " |\n";
    md += "| AURC of a perfect ranking | " + fix(rc["aurc_optimal"], 4) + " |\n";
  }
  if (k > 1) {
    for (auto it = o["pass_at_k"].begin(); it != o["pass_at_k"].end(); ++it) md += "| " + it.key() + " | " + pct(it.value()) + " |\n";
    md += "| majority@" + std::to_string(k) + " | " + pct(o["majority_at_k"]) + " |\n";
  }
  md += "\n## By suite\n\n" + table_header(k);
  for (auto it = res["suites"].begin(); it != res["suites"].end(); ++it) md += table_row(it.key(), it.value(), k);
  md += "\n## By suite and language\n\n" + table_header(k);
  if (res.contains("suite_lang"))
    for (auto it = res["suite_lang"].begin(); it != res["suite_lang"].end(); ++it) md += table_row(it.key(), it.value(), k);
  md += "\n## By difficulty knob\n\nEach row holds the tasks with one knob at the given value (the other knobs mixed). "
        "results.json also has every full combination of knobs (`difficulty`).\n\n" + table_header(k);
  for (const auto& g : res["difficulty_knobs"])
    md += table_row(g.value("suite", "") + " " + g.value("knob", "") + " = " + g["value"].dump(), g, k);
  md += "\n## Plots\n\n";
  md += "![reliability diagram](reliability.svg)\n\n![risk–coverage curve](risk_coverage.svg)\n\n"
        "![accuracy by difficulty](accuracy_by_difficulty.svg)\n\n";
  md += "The accuracy-by-difficulty plot draws one line per numeric knob of each suite.\n\n";
  md += "Every answer, with its verdict and the verifier's reason: `answers.jsonl`.\n";
  return md;
}

static std::string reliability_svg(const nlohmann::json& overall) {
  Chart c;
  c.title = "Reliability diagram (15 bins)";
  c.xlabel = "stated confidence";
  c.ylabel = "accuracy";
  c.xmin = 0; c.xmax = 1; c.ymin = 0; c.ymax = 1;
  c.diagonal = true;
  const auto& cal = overall["calibration"];
  Series s{"answers", {}, {}, true, ""};
  if (cal.is_object())
    for (const auto& b : cal["bins"])
      if (b.value("count", 0) > 0) {
        s.x.push_back(b["mean_confidence"].get<double>());
        s.y.push_back(b["accuracy"].get<double>());
      }
  if (s.x.empty()) c.title += " - no answer stated a confidence";
  else {
    char buf[64];
    std::snprintf(buf, sizeof buf, " - ECE %.3f", cal["ece"].get<double>());
    c.title += buf;
  }
  c.series.push_back(s);
  return c.to_svg();
}

static std::string risk_coverage_svg(const nlohmann::json& overall) {
  Chart c;
  c.title = "Risk-coverage (answers sorted by confidence)";
  c.xlabel = "coverage (share of attempted answers kept)";
  c.ylabel = "risk (share of kept answers that are wrong)";
  c.xmin = 0; c.xmax = 1; c.ymin = 0;
  const auto& rc = overall["risk_coverage"];
  if (rc.is_object()) {
    Series s{"model", rc["coverage"].get<std::vector<double>>(), rc["risk"].get<std::vector<double>>(), false, ""};
    char buf[64];
    std::snprintf(buf, sizeof buf, " - AURC %.3f", rc["aurc"].get<double>());
    c.title += buf;
    c.series.push_back(s);
  } else {
    c.title += " - no answer stated a confidence";
  }
  return c.to_svg();
}

static std::string difficulty_svg(const nlohmann::json& res) {
  Chart c;
  c.title = "Correct rate by difficulty knob";
  c.xlabel = "knob value (digits, steps, quantities, ...)";
  c.ylabel = "correct rate";
  c.ymin = 0; c.ymax = 1;
  std::map<std::string, std::vector<std::pair<double, double>>> lines;  // "suite: knob" -> (value, rate)
  for (const auto& g : res["difficulty_knobs"]) {
    const auto& v = g["value"];
    if (!v.is_number() || v.is_boolean()) continue;  // categorical knobs: table only
    lines[g.value("suite", "") + ": " + g.value("knob", "")].push_back({v.get<double>(), g["correct_rate"].get<double>()});
  }
  for (auto& [name, pts] : lines) {
    std::sort(pts.begin(), pts.end());
    Series s;
    s.name = name;
    s.points = pts.size() == 1;
    for (auto& [x, y] : pts) {
      s.x.push_back(x);
      s.y.push_back(y);
    }
    c.series.push_back(std::move(s));
  }
  if (c.series.empty()) c.title += " - no numeric knobs";
  return c.to_svg();
}

void write_outputs(const std::string& out_dir, const EvalRun& run) {
  fs::create_directories(out_dir);
  fs::path out(out_dir);
  {
    AtomicFile f(out / "answers.jsonl");
    for (const auto& r : run.answers) {
      const Task& t = run.tasks[r.task];
      nlohmann::json j = {{"id", t.id},
                          {"suite", t.suite},
                          {"lang", t.lang},
                          {"difficulty", t.difficulty},
                          {"sample", r.sample},
                          {"answer", r.text},
                          {"verdict", verdict_name(r.score.verdict)},
                          {"reason", r.score.reason},
                          {"confidence", r.score.confidence ? nlohmann::json(*r.score.confidence) : nlohmann::json()},
                          {"seconds", r.seconds}};
      // Model output may not be valid UTF-8: replace rather than fail the whole report.
      f.write(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    }
    f.commit();
  }
  atomic_write_file(out / "results.json", run.results.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  atomic_write_file(out / "report.md", report_markdown(run));
  atomic_write_file(out / "reliability.svg", reliability_svg(run.results["overall"]));
  atomic_write_file(out / "risk_coverage.svg", risk_coverage_svg(run.results["overall"]));
  atomic_write_file(out / "accuracy_by_difficulty.svg", difficulty_svg(run.results));
}

}  // namespace veritas::eval
