#include "veritas/serve/truth.hpp"

#include <cmath>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "veritas/serve/domains.hpp"
#include "veritas/verify/answer.hpp"
#include "veritas/verify/exact.hpp"

namespace veritas::serve {

const char* const kAbstention = "I could not verify an answer to this question.\nAnswer: I don't know";

namespace {

// Bytes that may appear inside an expression; multi-byte operators are handled apart.
bool expr_byte(char c) { return std::isdigit((unsigned char)c) || std::strchr(" .+-*/^()%", c); }

// Length of a multi-byte operator (× ÷ −) at s[i], or 0.
size_t wide_op(const std::string& s, size_t i) {
  for (const char* op : {"×", "÷", "−"})
    if (s.compare(i, std::strlen(op), op) == 0) return std::strlen(op);
  return 0;
}

// The fact-table questions, by normalised text: every distinct question the facts suite
// asks in 5,000 draws per split and language (its tables are finite; this covers most of
// them). Built once, on first use.
const std::unordered_map<std::string, Task>& fact_index() {
  static std::unordered_map<std::string, Task> index;
  static std::once_flag once;
  std::call_once(once, [] {
    for (const char* split : {"train", "dev", "test"})
      for (const char* lang : {"en", "zh"}) {
        SuiteOptions o;
        o.suite = "facts";
        o.n = 5000;
        o.seed = 1;
        o.split = split;
        o.difficulty = {{"lang", lang}};
        try {
          for (Task& t : generate_tasks(o)) index.emplace(normalize_text(t.question), std::move(t));
        } catch (const std::exception&) {
          // a language the suite does not take: the other one still counts
        }
      }
  });
  return index;
}

}  // namespace

std::optional<Task> recognise_question(const std::string& q) {
  {
    const auto& facts = fact_index();
    auto it = facts.find(normalize_text(q));
    if (it != facts.end()) return it->second;
  }
  if (auto t = recognise_quotient(q)) return t;
  if (auto t = recognise_physics(q)) return t;
  if (auto t = recognise_algebra(q)) return t;
  if (auto t = recognise_units(q)) return t;
  // The longest run of expression characters that holds a digit and an operator between
  // two operands; "12 + 30" in "What is 12 + 30?".
  std::string best;
  for (size_t i = 0; i < q.size();) {
    size_t j = i;
    std::string run;
    while (j < q.size()) {
      if (size_t w = wide_op(q, j)) {
        run += q.substr(j, w);
        j += w;
      } else if (expr_byte(q[j])) {
        run += q[j++];
      } else {
        break;
      }
    }
    // Trim spaces and a trailing sentence period.
    while (!run.empty() && (run.back() == ' ' || run.back() == '.')) run.pop_back();
    size_t lead = run.find_first_not_of(' ');
    run = lead == std::string::npos ? "" : run.substr(lead);
    if (run.size() > best.size()) best = run;
    i = j > i ? j : i + 1;
  }
  int digits = 0, ops = 0;
  for (size_t i = 0; i < best.size(); ++i) {
    if (std::isdigit((unsigned char)best[i])) ++digits;
    else if (std::strchr("+-*/^%", best[i]) || wide_op(best, i)) ++ops;
  }
  if (digits < 2 || ops < 1 || best.size() > 2000) return std::nullopt;
  Task t;
  t.id = "serve-question";
  t.suite = "arith";
  t.split = "test";
  t.lang = "en";
  t.question = q;
  try {
    mpq_class v = exact::eval(best);
    t.truth = {{"kind", "exact"}, {"value", exact::to_string(v)}, {"expr", best}};
  } catch (const exact::DivisionByZero&) {
    t.suite = "impossible";
    t.truth = {{"kind", "impossible"}, {"why", "division by zero in " + best}};
  } catch (const std::exception&) {
    return std::nullopt;  // not an expression after all ("1990-2000", a date, ...)
  }
  // A bare number with a sign ("-5") is not a question to verify.
  if (t.truth["kind"] == "exact" && exact::parse_number(best)) return std::nullopt;
  return t;
}

Assessment assess(const std::string& answer, double mean_logprob, const std::optional<Task>& task) {
  Assessment a;
  ParsedAnswer p = parse_answer(answer);
  a.abstained = p.kind == ParsedAnswer::Kind::DontKnow;
  if (p.confidence) {
    a.confidence = *p.confidence;
    a.confidence_stated = true;
  } else {
    a.confidence = std::exp(std::min(0.0, mean_logprob));
  }
  if (a.abstained) a.confidence = a.confidence_stated ? a.confidence : 0.0;
  if (task && !a.abstained) {
    Score s = verify(*task, answer);
    a.verified = s.verdict == Verdict::Correct;
    a.reason = s.reason.empty() ? verdict_name(s.verdict) : s.reason;
  }
  return a;
}

int pick_verified(const Task& task, int k, const std::function<std::pair<std::string, double>(int)>& candidate,
                  std::vector<Assessment>* tried) {
  for (int i = 0; i < k; ++i) {
    auto [text, mean_lp] = candidate(i);
    Assessment a = assess(text, mean_lp, task);
    if (tried) tried->push_back(a);
    if (a.verified && *a.verified) return i;
  }
  return -1;
}

}  // namespace veritas::serve
