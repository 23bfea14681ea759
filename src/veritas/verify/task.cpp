#include "veritas/verify/task.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <unordered_set>

#include "veritas/util/error.hpp"
#include "veritas/util/hash.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/text.hpp"
#include "veritas/verify/suites.hpp"

namespace veritas {

using nlohmann::json;

json Task::to_json() const {
  return json{{"id", id},       {"suite", suite},   {"split", split},
              {"lang", lang},   {"question", question}, {"truth", truth},
              {"difficulty", difficulty}, {"reference", reference}};
}

Task Task::from_json(const json& j) {
  check(j.is_object(), "task is not a JSON object");
  Task t;
  auto str = [&](const char* k, bool required) -> std::string {
    auto it = j.find(k);
    if (it == j.end() || it->is_null()) {
      check(!required, std::string("task is missing field '") + k + "'");
      return "";
    }
    check(it->is_string(), std::string("task field '") + k + "' must be a string");
    return it->get<std::string>();
  };
  t.id = str("id", true);
  t.suite = str("suite", true);
  t.split = str("split", false);
  t.lang = str("lang", false);
  t.question = str("question", true);
  t.reference = str("reference", false);
  check(j.contains("truth") && j["truth"].is_object() && j["truth"].contains("kind"),
        "task '" + t.id + "' has no truth object with a 'kind'");
  t.truth = j["truth"];
  t.difficulty = j.value("difficulty", json::object());
  return t;
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Correct: return "correct";
    case Verdict::Wrong: return "wrong";
    case Verdict::Abstained: return "abstained";
    case Verdict::Malformed: return "malformed";
  }
  return "?";
}

Score verify(const Task& task, const std::string& answer_text) {
  ParsedAnswer a = parse_answer(answer_text);
  Score s;
  try {
    s = suites::judge(task.truth, a);
  } catch (const std::exception& e) {
    // A truth object this build cannot judge is a task-file problem, not a wrong answer.
    throw Error("task '" + task.id + "': cannot judge: " + e.what());
  }
  s.confidence = a.confidence;
  return s;
}

const std::vector<std::string>& suite_names() {
  static const std::vector<std::string> names = {"arith", "algebra", "units", "physics", "facts", "impossible"};
  return names;
}

json easiest_difficulty(const std::string& suite) {
  if (suite == "arith") return {{"digits", 1}, {"steps", 2}};
  if (suite == "algebra") return {{"vars", 1}, {"digits", 1}, {"rational", false}};
  if (suite == "units") return {{"quantities", 1}, {"digits", 1}};
  if (suite == "physics") return {{"digits", 2}};
  if (suite == "facts") return {{"table", "elements"}};
  return json::object();
}

std::vector<Task> generate_tasks(const SuiteOptions& opts) {
  using Gen = suites::Candidate (*)(Rng&, const json&, const std::string&);
  Gen gen = nullptr;
  if (opts.suite == "arith") gen = suites::gen_arith;
  else if (opts.suite == "algebra") gen = suites::gen_algebra;
  else if (opts.suite == "units") gen = suites::gen_units;
  else if (opts.suite == "physics") gen = suites::gen_physics;
  else if (opts.suite == "facts") gen = suites::gen_facts;
  else if (opts.suite == "impossible") gen = suites::gen_impossible;
  else {
    std::string all;
    for (const auto& n : suite_names()) all += (all.empty() ? "" : ", ") + n;
    throw Error("unknown suite '" + opts.suite + "' (known: " + all + ")");
  }
  check(opts.split == "train" || opts.split == "dev" || opts.split == "test",
        "split must be train, dev or test, not '" + opts.split + "'");
  check(opts.n >= 0, "n must be >= 0");
  json diff = opts.difficulty.is_null() ? json::object() : opts.difficulty;
  check(diff.is_object(), "difficulty must be a JSON object");
  std::string lang_opt = diff.value("lang", std::string("mix"));
  check(lang_opt == "en" || lang_opt == "zh" || lang_opt == "mix", "difficulty.lang must be en, zh or mix");

  // The stream depends on suite and seed only (not on the split), so generating the
  // three splits with one seed partitions one stream of questions.
  Rng rng(opts.seed ^ fnv1a_mixed("veritas-tasks:" + opts.suite, kFnvBasisShort));
  std::vector<Task> out;
  std::unordered_set<std::string> seen;
  // Repeats are skipped until the suite's question space for this split looks exhausted
  // (small fact tables): then repeats are allowed, so any n can be generated.
  bool exhausted = false;
  for (int i = 0; i < opts.n; i++) {
    suites::Candidate c;
    bool found = false;
    int repeats = 0;
    for (int attempt = 0; attempt < 100000 && !found; attempt++) {
      std::string lang = lang_opt;
      if (lang == "mix") lang = rng.below(3) == 0 ? "zh" : "en";
      c = gen(rng, diff, lang);
      if (suites::split_of_key(c.key) != opts.split) continue;
      if (seen.count(c.key) && !exhausted) {
        if (++repeats < 64) continue;
        exhausted = true;
      }
      found = true;
    }
    check(found, "suite '" + opts.suite + "' could not produce a question for split '" + opts.split +
                     "' with these difficulty settings");
    seen.insert(c.key);
    Task t;
    t.id = opts.suite + "-" + opts.split + "-" + std::to_string(opts.seed) + "-" + std::to_string(i);
    t.suite = opts.suite;
    t.split = opts.split;
    t.lang = c.lang;
    t.question = c.question;
    t.truth = c.truth;
    t.truth["key"] = c.key;
    t.difficulty = c.difficulty;
    t.reference = c.reference;
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<Task> read_tasks_jsonl(const std::string& path) {
  std::vector<Task> out;
  std::unordered_set<std::string> ids;
  for_each_json_line(path, [&](const json& j, const std::string& where) {
    out.push_back(Task::from_json(j));  // its errors come back prefixed with where
    check(ids.insert(out.back().id).second, where + ": duplicate task id '" + out.back().id + "'");
  });
  return out;
}

namespace suites {

std::string split_of_key(const std::string& key) {
  uint64_t b = fnv1a_mixed("split:" + key, kFnvBasisShort) % 100;
  return b < 80 ? "train" : b < 90 ? "dev" : "test";
}

std::string fmt_double(double x, int sig) {
  // std::to_chars with a precision writes what printf's "%.*g" writes, without the locale.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::general, sig);
  if (ec != std::errc())  // too long for the buffer: printf truncates, as it always did
    end = buf + std::min<int>(std::snprintf(buf, sizeof buf, "%.*g", sig, x), sizeof buf - 1);
  std::string_view s(buf, end - buf);
  size_t e = s.find('e');
  if (e == std::string_view::npos) return std::string(s);
  // 1.5e+06 -> 1.5e6 (both forms parse; the short one reads better)
  std::string_view ex = s.substr(e + 1);
  bool neg = ex[0] == '-';
  ex.remove_prefix(ex[0] == '-' || ex[0] == '+');
  while (ex.size() > 1 && ex[0] == '0') ex.remove_prefix(1);
  std::string out(s.substr(0, e + 1));
  if (neg && ex != "0") out += '-';
  return out.append(ex);
}

}  // namespace suites

}  // namespace veritas
