// veritas tasks generate | check | demos | protocol-demos: verifier-backed task suites,
// answer scoring, worked demonstrations, and answer-protocol demonstrations for a chat
// model's format phase. Formats: docs/verify.md and docs/answer-protocol.md.
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <unordered_map>

#include "veritas/cli/commands.hpp"
#include "veritas/eval/prompt.hpp"
#include "veritas/train/sft.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/text.hpp"
#include "veritas/verify/answer.hpp"
#include "veritas/verify/demos.hpp"
#include "veritas/verify/task.hpp"

namespace veritas::cli {

namespace {

using nlohmann::json;

json parse_difficulty(const std::string& s) {
  if (s.empty()) return json::object();
  try {
    json j = json::parse(s);
    check(j.is_object(), "--difficulty must be a JSON object, e.g. '{\"digits\": 5}'");
    return j;
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw Error(std::string("--difficulty is not valid JSON: ") + e.what());
  }
}

void write_jsonl(const std::string& path, const std::vector<json>& rows) {
  std::string out;
  for (const auto& r : rows) out += r.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  if (path == "-") {
    std::fwrite(out.data(), 1, out.size(), stdout);
    return;
  }
  atomic_write_file(path, out);
}

struct Counts {
  int64_t n[4] = {0, 0, 0, 0};
  int64_t total() const { return n[0] + n[1] + n[2] + n[3]; }
};

std::string rate(int64_t k, int64_t n) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f%%", n ? 100.0 * k / n : 0.0);
  return b;
}

}  // namespace

void register_tasks(CLI::App& app) {
  auto* cmd = app.add_subcommand("tasks", "generate verifier-backed task suites, score answers, write worked demonstrations");
  cmd->require_subcommand(1);

  // --- generate ---
  struct Gen {
    std::string suite, split = "test", out, difficulty;
    int n = 100;
    uint64_t seed = 0;
  };
  auto g = std::make_shared<Gen>();
  auto* gen = cmd->add_subcommand("generate", "write N tasks of a suite as JSONL (deterministic in --seed; splits are disjoint)");
  std::string suites;
  for (const auto& s : suite_names()) suites += (suites.empty() ? "" : "|") + s;
  gen->add_option("--suite", g->suite, "suite: " + suites)->required();
  gen->add_option("--n", g->n, "number of tasks")->check(CLI::NonNegativeNumber);
  gen->add_option("--seed", g->seed, "random seed");
  gen->add_option("--split", g->split, "train|dev|test (a question's split is a hash of its content)")
      ->check(CLI::IsMember({"train", "dev", "test"}));
  gen->add_option("--difficulty", g->difficulty,
                  "JSON knobs, e.g. '{\"digits\":8,\"steps\":3}', '{\"lang\":\"zh\"}', '{\"impossible_rate\":0}' (see docs/verify.md)");
  gen->add_option("-o,--out", g->out, "output JSONL ('-' = stdout)")->required();
  gen->callback([g] {
    SuiteOptions o;
    o.suite = g->suite;
    o.n = g->n;
    o.seed = g->seed;
    o.split = g->split;
    o.difficulty = parse_difficulty(g->difficulty);
    auto tasks = generate_tasks(o);
    std::vector<json> rows;
    for (const auto& t : tasks) rows.push_back(t.to_json());
    write_jsonl(g->out, rows);
    if (g->out != "-") std::fprintf(stderr, "wrote %zu %s tasks (%s split) to %s\n", tasks.size(), g->suite.c_str(), g->split.c_str(), g->out.c_str());
  });

  // --- check ---
  struct Chk {
    std::string tasks, answers, verdicts;
    bool as_json = false;
  };
  auto c = std::make_shared<Chk>();
  auto* chk = cmd->add_subcommand("check", "score a JSONL of answers ({\"id\":..., \"answer\":\"...\"}) against tasks and print the summary");
  chk->add_option("tasks", c->tasks, "tasks JSONL (from 'veritas tasks generate')")->required();
  chk->add_option("answers", c->answers, "answers JSONL: one {\"id\", \"answer\"} object per line")->required();
  chk->add_option("--verdicts", c->verdicts, "also write one {\"id\",\"verdict\",\"reason\",\"confidence\"} line per answer here");
  chk->add_flag("--json", c->as_json, "print the summary as JSON");
  chk->callback([c] {
    auto tasks = read_tasks_jsonl(c->tasks);
    std::unordered_map<std::string, const Task*> by_id;
    for (const auto& t : tasks) by_id[t.id] = &t;
    Counts all;
    std::map<std::string, Counts> per_suite;
    std::vector<json> verdicts;
    std::unordered_map<std::string, int64_t> answered;
    Progress prog("check", (int64_t)tasks.size(), "answers");
    for_each_json_line(c->answers, [&](const json& j, const std::string& where) {
      check(j.is_object() && j.contains("id") && j["id"].is_string(), where + ": expected an object with a string 'id'");
      check(j.contains("answer") && j["answer"].is_string(), where + ": expected a string 'answer'");
      std::string id = j["id"].get<std::string>();
      auto it = by_id.find(id);
      check(it != by_id.end(), where + ": no task with id '" + id + "' in " + c->tasks);
      check(answered[id]++ == 0, where + ": a second answer for task '" + id + "'");
      Score s = verify(*it->second, j["answer"].get<std::string>());
      all.n[(int)s.verdict]++;
      per_suite[it->second->suite].n[(int)s.verdict]++;
      json v = {{"id", id}, {"verdict", verdict_name(s.verdict)}, {"reason", s.reason}};
      if (s.confidence) v["confidence"] = *s.confidence;
      verdicts.push_back(v);
      prog.add(1);
    });
    prog.finish();
    int64_t missing = (int64_t)tasks.size() - (int64_t)answered.size();
    if (!c->verdicts.empty()) write_jsonl(c->verdicts, verdicts);
    auto summary = [](const Counts& k) {
      int64_t n = k.total();
      return json{{"n", n}, {"correct", k.n[0]}, {"wrong", k.n[1]}, {"abstained", k.n[2]}, {"malformed", k.n[3]},
                  {"correct_rate", n ? (double)k.n[0] / n : 0.0}, {"wrong_rate", n ? (double)k.n[1] / n : 0.0},
                  {"abstained_rate", n ? (double)k.n[2] / n : 0.0}, {"malformed_rate", n ? (double)k.n[3] / n : 0.0},
                  {"accuracy_when_attempted", (k.n[0] + k.n[1]) ? (double)k.n[0] / (k.n[0] + k.n[1]) : 0.0}};
    };
    if (c->as_json) {
      json out = summary(all);
      out["unanswered"] = missing;
      for (const auto& [s, k] : per_suite) out["suites"][s] = summary(k);
      std::printf("%s\n", out.dump(2).c_str());
      return;
    }
    auto row = [&](const std::string& name, const Counts& k) {
      int64_t n = k.total();
      std::printf("%-12s %7lld  correct %7lld (%6s)  wrong %7lld (%6s)  abstained %7lld (%6s)  malformed %7lld (%6s)\n",
                  name.c_str(), (long long)n, (long long)k.n[0], rate(k.n[0], n).c_str(), (long long)k.n[1],
                  rate(k.n[1], n).c_str(), (long long)k.n[2], rate(k.n[2], n).c_str(), (long long)k.n[3],
                  rate(k.n[3], n).c_str());
    };
    for (const auto& [s, k] : per_suite) row(s, k);
    row("all", all);
    int64_t attempted = all.n[0] + all.n[1];
    std::printf("accuracy when attempted: %s (%lld of %lld)\n", rate(all.n[0], attempted).c_str(), (long long)all.n[0],
                (long long)attempted);
    if (missing > 0) std::printf("unanswered: %lld of %zu tasks have no answer line\n", (long long)missing, tasks.size());
  });

  // --- protocol-demos ---
  // The format phase's data (docs/selfplay.md): tasks of several suites in English and
  // Chinese, each answered with the suite's reference final line plus a Confidence line,
  // behind a prompt set's system message (and few-shot turns). Every answer is scored by
  // the verifier and only those it calls correct are written.
  // With --graded (the answers of `veritas eval -k K` on the same tasks) each demonstration
  // states the confidence the model earned: its share of right samples p on that question.
  // Where p is below --answer-above the demonstration abstains, because under the
  // self-play reward (+1 right, 0 abstained, -1 wrong) answering pays only when p > 1/2.
  // A question without an answer is refused in the suite's own words ("cannot be
  // answered") with Confidence 1 whatever the record: that refusal is right by
  // construction, and its wording keeps it apart from "I don't know", which states no
  // confidence (it claims nothing).
  struct Proto {
    std::vector<std::string> suites = suite_names();
    std::string prompt, split = "train", out, graded;
    std::vector<std::string> mix;
    int n = 8;
    uint64_t seed = 100;
    double confidence = 0.5, answer_above = 0.5;
    int repeat_answered = 1;
    bool tasks_only = false, easy = false;
  };
  auto pr = std::make_shared<Proto>();
  auto* pro = cmd->add_subcommand(
      "protocol-demos",
      "write verifier-checked answer-protocol demonstrations as chat messages ({\"id\", \"messages\"}, for "
      "`veritas train --sft`): N tasks per suite and language (en, zh), answered with the reference final line and a "
      "Confidence line, behind a prompt set's system message");
  pro->add_option("--suite", pr->suites, "suites (default: all six)")->check(CLI::IsMember(suite_names()));
  pro->add_option("--n", pr->n, "tasks per suite and language")->check(CLI::NonNegativeNumber)->capture_default_str();
  pro->add_option("--seed", pr->seed, "seed of the first suite and language (then +1 each)")->capture_default_str();
  pro->add_option("--split", pr->split, "train|dev|test")->check(CLI::IsMember({"train", "dev", "test"}))->capture_default_str();
  pro->add_option("--prompt", pr->prompt, "prompt set folder (system.{en,zh}.txt, fewshot.{en,zh}.jsonl), e.g. prompts/answer-protocol/v5");
  pro->add_option("--confidence", pr->confidence, "the Confidence line's value")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  pro->add_option("--graded", pr->graded,
                  "answers.jsonl of `veritas eval -k K` on these same tasks (`--tasks-only`): the Confidence line "
                  "becomes the model's share of right samples p, and the answer \"I don't know\" (no Confidence line) "
                  "where p < --answer-above; a question without an answer is refused (\"cannot be answered\", Confidence: 1)");
  pro->add_option("--answer-above", pr->answer_above, "with --graded: the least p that is answered rather than abstained")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  pro->add_option("--repeat-answered", pr->repeat_answered,
                  "with --graded: write each demonstration that claims something (an answer, or the refusal of a "
                  "question without one) this many times, so that a model that can answer few questions still sees "
                  "enough claims to learn which")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  pro->add_flag("--easy", pr->easy,
                "each suite's easiest knobs (arith 1 digit, algebra one equation with 1-digit integers, units one "
                "quantity of 1 significant digit, physics 2 digits, facts the elements table): questions a small "
                "model has a chance on");
  pro->add_option("--mix", pr->mix,
                  "append the chat rows of this JSONL (each with 'messages': other demonstrations, or a model's own "
                  "replies from `veritas sample --prompts`) after the demonstrations (repeatable)");
  pro->add_flag("--tasks-only", pr->tasks_only, "write only the tasks (a held-out set for `veritas eval --tasks` with --split test)");
  pro->add_option("-o,--out", pr->out, "output JSONL ('-' = stdout)")->required();
  pro->callback([pr] {
    check(pr->tasks_only || !pr->prompt.empty(), "tasks protocol-demos: --prompt DIR is required (or --tasks-only)");
    std::optional<eval::PromptSet> set;
    check(!(pr->tasks_only && !pr->graded.empty()), "tasks protocol-demos: --graded makes demonstrations, not --tasks-only");
    check(!(pr->tasks_only && !pr->mix.empty()), "tasks protocol-demos: --mix appends chat rows, not tasks (--tasks-only)");
    if (!pr->tasks_only) set = eval::load_prompt_set(pr->prompt);
    // task id -> {right samples, samples}
    std::unordered_map<std::string, std::pair<int, int>> grades;
    if (!pr->graded.empty()) {
      for_each_json_line(pr->graded, [&](const json& j, const std::string& where) {
        check(j.is_object() && j.contains("id") && j["id"].is_string() && j.contains("verdict") && j["verdict"].is_string(),
              where + ": expected an answers.jsonl row of `veritas eval` (string 'id' and 'verdict')");
        auto& g = grades[j["id"].get<std::string>()];
        g.first += j["verdict"] == "correct";
        g.second += 1;
      });
    }
    int64_t abstained = 0, kept = 0;
    std::vector<json> rows;
    int64_t total = 0;
    uint64_t seed = pr->seed;
    for (const auto& suite : pr->suites) {
      for (const char* lang : {"en", "zh"}) {
        SuiteOptions o;
        o.suite = suite;
        o.n = pr->n;
        o.seed = seed++;  // one seed per suite and language: task ids stay unique
        o.split = pr->split;
        o.difficulty = pr->easy ? easiest_difficulty(suite) : json::object();
        o.difficulty["lang"] = lang;
        for (const Task& t : generate_tasks(o)) {
          ++total;
          if (pr->tasks_only) {
            rows.push_back(t.to_json());
            continue;
          }
          const bool zh = t.lang == "zh";
          double confidence = pr->confidence;
          std::string final_line = t.reference;
          bool abstain = false;
          const bool no_answer = t.truth.value("kind", "") == "impossible";
          if (!pr->graded.empty()) {
            auto g = grades.find(t.id);
            check(g != grades.end(), "tasks protocol-demos: task " + t.id + " has no answer in " + pr->graded +
                                         " (grade the tasks that `--tasks-only` with the same --n, --seed, --split, "
                                         "--easy and --suite writes)");
            confidence = no_answer ? 1.0 : std::round(100.0 * g->second.first / g->second.second) / 100.0;
            abstain = confidence < pr->answer_above;
          }
          // The Confidence line is the chance that the answer above it is right. An
          // abstention claims nothing, so it has no such line: a model taught "I don't know"
          // with Confidence 0 (as before) carried the 0 over to its right refusals of
          // impossible questions, where the harness scores "I don't know" right.
          // (Some impossible questions, open problems, have "I don't know" as their reference.)
          if (abstain) final_line = zh ? "答案：不知道" : "Answer: I don't know";
          const bool dont_know = parse_answer(final_line).kind == ParsedAnswer::Kind::DontKnow;
          char conf[48];
          std::snprintf(conf, sizeof conf, "\n%s%g", zh ? "置信度：" : "Confidence: ", confidence);
          const std::string answer = final_line + (dont_know ? "" : conf);
          const Verdict v = verify(t, answer).verdict;
          // An abstention is what it claims to be: abstained (or right, on an impossible task).
          if (abstain ? v == Verdict::Wrong || v == Verdict::Malformed : v != Verdict::Correct) continue;
          abstained += abstain || (no_answer && !pr->graded.empty());
          ++kept;
          json msgs = json::array();
          for (const ChatMessage& m : eval::prompt_messages(&*set, false, t))  // system, few-shot turns, question
            msgs.push_back({{"role", m.role}, {"content", m.content}});
          msgs.push_back({{"role", "assistant"}, {"content", answer}});
          for (int r = abstain || pr->graded.empty() ? 1 : pr->repeat_answered; r > 0; --r)
            rows.push_back({{"id", t.id}, {"messages", msgs}});
        }
      }
    }
    size_t mixed = 0;
    for (const auto& file : pr->mix) {
      for_each_json_line(file, [&](const json& j, const std::string& where) {
        check(j.is_object() && j.contains("messages"), where + ": expected a chat row with 'messages'");
        chat_prompt_messages(j["messages"], where);  // the same checks as `veritas train --sft`
        rows.push_back({{"id", j.contains("id") ? j["id"] : json("mix-" + std::to_string(mixed))}, {"messages", j["messages"]}});
        ++mixed;
      });
    }
    write_jsonl(pr->out, rows);
    if (mixed) std::fprintf(stderr, "appended %zu chat rows from %zu file(s)\n", mixed, pr->mix.size());
    if (pr->tasks_only)
      std::fprintf(stderr, "wrote %zu tasks (%s split) to %s\n", rows.size(), pr->split.c_str(), pr->out.c_str());
    else
      std::fprintf(stderr,
                   "wrote %lld of %lld demonstrations (verifier-checked; %lld it did not accept left out; %lld abstain or refuse) "
                   "as %zu rows to %s\n",
                   (long long)kept, (long long)total, (long long)(total - kept), (long long)abstained, rows.size(),
                   pr->out.c_str());
  });

  // --- demos ---
  auto d = std::make_shared<DemoOptions>();
  auto dout = std::make_shared<std::string>();
  auto* dem = cmd->add_subcommand("demos", "write worked solutions (steps + Answer line) with a controlled error rate, for imitation training");
  dem->add_option("--suite", d->suite, "arith (column addition/multiplication) | units (conversions)")
      ->check(CLI::IsMember({"arith", "units"}));
  dem->add_option("--n", d->n, "number of demonstrations")->check(CLI::NonNegativeNumber);
  dem->add_option("--seed", d->seed, "random seed");
  dem->add_option("--split", d->split, "train|dev|test")->check(CLI::IsMember({"train", "dev", "test"}));
  dem->add_option("--error-rate", d->error_rate, "fraction of demonstrations with an error")->check(CLI::Range(0.0, 1.0));
  dem->add_option("--error-kind", d->error_kind, "slip (random local mistakes) | rule (one coherent false rule, see --rule)")
      ->check(CLI::IsMember({"slip", "rule"}));
  std::string rules;
  for (const auto& [n, desc] : demo_rules()) rules += "\n  " + n + ": " + desc;
  dem->add_option("--rule", d->rule, "the false rule for --error-kind rule:" + rules);
  dem->add_option("--digits", d->digits, "operand digits (0 = a mix of 1..--max-digits)")->check(CLI::Range(0, 1000));
  dem->add_option("--max-digits", d->max_digits, "largest operand size in the mix")->check(CLI::Range(1, 1000));
  dem->add_flag("--same-length", d->same_length,
                "the mix: both operands of one drawn length, 1..--max-digits (the problems self-improve asks)");
  dem->add_option("--op", d->op, "arith operation: add | mul | mix | mul1 (times a 1-digit number)")
      ->check(CLI::IsMember({"add", "mul", "mix", "mul1"}));
  dem->add_option("--format", d->format,
                  "arith answer format: columns (worked column steps) | reversed (digits ones first in question and "
                  "answer, Answer line only) | marked (reversed, each digit after a letter naming its place: "
                  "c3d2e9) | shuffled (marked, the question's pairs in random order: d2e9c3) | ranged (shuffled; the "
                  "reply first names the operands' places: \"Places c to e.\") | tagged (shuffled, the second operand's marks "
                  "in capitals: d2e9c3 + E0C7D9)")
      ->check(CLI::IsMember({"columns", "reversed", "marked", "shuffled", "ranged", "tagged"}));
  dem->add_option("--lang", d->lang, "en | zh | mix")->check(CLI::IsMember({"en", "zh", "mix"}));
  dem->add_option("--abstain-rate", d->abstain_rate,
                  "fraction of demonstrations that show no work and answer \"I don't know\" (arith with a digit mix: "
                  "larger operands abstain more often)")
      ->check(CLI::Range(0.0, 1.0));
  dem->add_option("-o,--out", *dout, "output JSONL ('-' = stdout)")->required();
  auto tasks_only = std::make_shared<bool>(false);
  dem->add_flag("--tasks-only", *tasks_only,
                "write only each demonstration's task (a tasks file for `veritas eval --tasks`), e.g. with --split test");
  dem->callback([d, dout, tasks_only] {
    auto demos = generate_demos(*d);
    std::vector<json> rows;
    int64_t wrong = 0, abstained = 0;
    for (const auto& x : demos) {
      rows.push_back(*tasks_only ? x.task : x.to_json());
      if (x.error_kind == "abstain") ++abstained;
      else wrong += !x.correct;
    }
    write_jsonl(*dout, rows);
    if (*dout != "-")
      std::fprintf(stderr, "wrote %zu demonstrations (%lld with a wrong final answer, %lld abstaining) to %s\n", demos.size(),
                   (long long)wrong, (long long)abstained, dout->c_str());
  });
}

}  // namespace veritas::cli
