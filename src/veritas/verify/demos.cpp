// Worked demonstrations with controlled errors. Arithmetic demos show column addition and
// long multiplication digit by digit; unit demos show a conversion through a stated
// factor. An erroneous demo either slips once (one wrong digit / factor, then carries on
// consistently) or follows one false rule throughout (every carry dropped, 7 x 8 = 54,
// 1 mile = 1.5 km). Whether the final answer is right is decided by the verifier.
#include "veritas/verify/demos.hpp"

#include <algorithm>
#include <cmath>

#include "veritas/util/error.hpp"
#include "veritas/util/hash.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/verify/exact.hpp"
#include "veritas/verify/suites.hpp"
#include "veritas/verify/task.hpp"
#include "veritas/verify/units.hpp"

namespace veritas {

nlohmann::json Demo::to_json() const {
  nlohmann::json messages = nlohmann::json::array(
      {{{"role", "user"}, {"content", prompt}}, {{"role", "assistant"}, {"content", completion}}});
  return {{"id", id},
          {"prompt", prompt},
          {"completion", completion},
          {"correct", correct},
          {"error_kind", error_kind},
          {"task", task},
          {"messages", messages}};
}

const std::vector<std::pair<std::string, std::string>>& demo_rules() {
  static const std::vector<std::pair<std::string, std::string>> r = {
      {"drop_carry", "arith: every carry is dropped (column addition and the digit products of multiplication)"},
      {"wrong_table", "arith: the multiplication table says 7 x 8 = 8 x 7 = 54"},
      {"mile_1_5km", "units: 1 mile = 1.5 km (true: 1.609344 km)"}};
  return r;
}

namespace {

using suites::fmt_double;
using nlohmann::json;

std::string random_digits(Rng& rng, int digits) {
  std::string s(1, char('1' + rng.below(9)));
  for (int i = 1; i < digits; i++) s.push_back(char('0' + rng.below(10)));
  return s;
}

std::string strip_zeros(std::string s) {
  size_t p = s.find_first_not_of('0');
  return p == std::string::npos ? "0" : s.substr(p);
}

struct Rules {
  bool drop_carry = false;
  bool wrong_table = false;
  int slip_step = -1;  // index of the step that slips (-1: none)
  int slip_delta = 1;
};

int digit_product(int a, int b, const Rules& r) {
  if (r.wrong_table && ((a == 7 && b == 8) || (a == 8 && b == 7))) return 54;
  return a * b;
}

// Column addition of two digit strings; appends one line per column to `steps`.
std::string add_columns(const std::string& a, const std::string& b, const Rules& r, bool zh, std::vector<std::string>& steps,
                        int& step_no) {
  std::string out;
  int carry = 0;
  size_t n = std::max(a.size(), b.size());
  for (size_t k = 0; k < n; k++) {
    int da = k < a.size() ? a[a.size() - 1 - k] - '0' : 0;
    int db = k < b.size() ? b[b.size() - 1 - k] - '0' : 0;
    int s = da + db + carry;
    int digit = s % 10;
    if (step_no++ == r.slip_step) digit = (digit + r.slip_delta + 10) % 10;
    int next = r.drop_carry ? 0 : s / 10;
    std::string line = zh ? "第 " + std::to_string(k + 1) + " 位：" : "Column " + std::to_string(k + 1) + ": ";
    line += std::to_string(da) + " + " + std::to_string(db) + (carry ? " + " + std::to_string(carry) : "") + " = " + std::to_string(s);
    line += zh ? "，写 " + std::to_string(digit) : ", write " + std::to_string(digit);
    if (next) line += zh ? "，进 " + std::to_string(next) : ", carry " + std::to_string(next);
    line += zh ? "。" : ".";
    steps.push_back(line);
    out.push_back(char('0' + digit));
    carry = next;
  }
  if (carry) {
    steps.push_back(zh ? "最高位写下进位 " + std::to_string(carry) + "。" : "Write the final carry " + std::to_string(carry) + ".");
    out.push_back(char('0' + carry));
  }
  std::reverse(out.begin(), out.end());
  return strip_zeros(out);
}

// a x d for a single digit d, honouring the rules (no per-digit lines: one line per partial).
std::string mul_digit(const std::string& a, int d, const Rules& r) {
  std::string out;
  int carry = 0;
  for (size_t k = 0; k < a.size(); k++) {
    int p = digit_product(a[a.size() - 1 - k] - '0', d, r) + carry;
    out.push_back(char('0' + p % 10));
    carry = r.drop_carry ? 0 : p / 10;
  }
  while (carry) {
    out.push_back(char('0' + carry % 10));
    carry /= 10;
  }
  std::reverse(out.begin(), out.end());
  return strip_zeros(out);
}

// Sum of many numbers column by column (used for the partial products).
std::string add_many(const std::vector<std::string>& xs, const Rules& r) {
  size_t n = 0;
  for (const auto& x : xs) n = std::max(n, x.size());
  std::string out;
  int carry = 0;
  for (size_t k = 0; k < n; k++) {
    int s = carry;
    for (const auto& x : xs) s += k < x.size() ? x[x.size() - 1 - k] - '0' : 0;
    out.push_back(char('0' + s % 10));
    carry = r.drop_carry ? 0 : s / 10;
  }
  while (carry) {
    out.push_back(char('0' + carry % 10));
    carry /= 10;
  }
  std::reverse(out.begin(), out.end());
  return strip_zeros(out);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

Task arith_task(const std::string& a, const std::string& b, bool mul, bool zh, const std::string& split, const std::string& id) {
  std::string expr = a + (mul ? " * " : " + ") + b;
  Task t;
  t.id = id;
  t.suite = "arith";
  t.split = split;
  t.lang = zh ? "zh" : "en";
  t.question = zh ? "计算 " + expr + "。" : "What is " + expr + "?";
  mpz_class x(a, 10), y(b, 10), v;
  if (mul) v = x * y;
  else v = x + y;
  t.truth = {{"kind", "exact"}, {"value", v.get_str()}, {"expr", expr}, {"key", "arith:" + expr}};
  t.difficulty = {{"digits", (int)std::max(a.size(), b.size())}, {"steps", 1}, {"form", mul ? "mul" : "add"}};
  t.reference = std::string(zh ? "答案：" : "Answer: ") + v.get_str();
  return t;
}

std::string reversed(std::string s) {
  std::reverse(s.begin(), s.end());
  return s;
}

// The ones-first forms of a question: operands and answer written ones first, so the
// k-th digit of the answer depends on the k-th digits of the operands and a carry from
// the digit before: each step sits at the same position in every length (a model that
// wrote 5 digits can go on to a 6th). The split key is the plain question's.
//
// With marks (mark_start != kNoMarks) each digit follows a letter naming its place
// ("c3d2e9" for 923 when the places start at c), the letters consecutive from a random
// start so that training shows every letter and every letter's successor; the answer
// carries the same marks, so the k-th digits of the operands can be found by their mark
// (by content) instead of by counting positions.
constexpr std::string_view kMarks = "abcdefghijklmnopqrstuvwxyz";
// The tagged format's marks of the second operand: the same places in capitals, so that
// which operand a digit belongs to is read from its mark too.
constexpr std::string_view kCapitalMarks = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
static_assert(kMarks.size() == kMarkedMaxDigits + 1, "a sum of kMarkedMaxDigits digits has one more place");
constexpr size_t kNoMarks = std::string_view::npos;

// digits (as written, most significant first) in the ones-first form.
std::string ones_first(const std::string& digits, size_t mark_start, std::string_view marks = kMarks) {
  const std::string r = reversed(digits);
  if (mark_start == kNoMarks) return r;
  std::string out;
  for (size_t i = 0; i < r.size(); ++i) {
    out += marks[mark_start + i];
    out += r[i];
  }
  return out;
}

// The shuffled form of marked digits: the (mark, digit) pairs in random order, so that a
// digit's place can be read only from its mark, never from where it stands in the question
// (models trained on the ordered form learned positions per length and ignored the marks).
std::string shuffled_pairs(const std::string& marked, Rng& rng) {
  std::vector<std::string> pairs;
  for (size_t i = 0; i + 1 < marked.size(); i += 2) pairs.push_back(marked.substr(i, 2));
  for (size_t i = pairs.size(); i > 1; --i) std::swap(pairs[i - 1], pairs[rng.below(i)]);
  std::string out;
  for (const auto& p : pairs) out += p;
  return out;
}

// shuffle: the operands' marked pairs in random order (the shuffled format); null keeps them.
// tagged: the second operand's marks in capitals (the tagged format).
Task ones_first_task(Task t, const std::string& a, const std::string& b, bool mul, bool zh, size_t mark_start,
                     Rng* shuffle, bool tagged = false) {
  const bool marked = mark_start != kNoMarks;
  auto operand = [&](const std::string& x, std::string_view marks) {
    return shuffle ? shuffled_pairs(ones_first(x, mark_start, marks), *shuffle) : ones_first(x, mark_start, marks);
  };
  const std::string expr = operand(a, kMarks) + (mul ? " * " : " + ") + operand(b, tagged ? kCapitalMarks : kMarks);
  if (tagged) {
    if (zh) t.question = "按带位标的数位（顺序打乱，第二个数用大写位标）计算 " + expr + "，答案个位在前。";
    else t.question = "With place-marked digits in any order, the second number's marks in capitals, what is " + expr +
                      "? Answer ones first.";
  } else if (shuffle) {
    if (zh) t.question = "按带位标的数位（顺序打乱）计算 " + expr + "，答案个位在前。";
    else t.question = "With place-marked digits in any order, what is " + expr + "? Answer ones first.";
  } else if (zh) {
    t.question = std::string(marked ? "按倒序数位（带位标）计算 " : "按倒序数位（个位在前）计算 ") + expr + "。";
  } else {
    t.question = std::string(marked ? "In reversed digits with place marks, what is " : "In reversed digits (ones first), what is ") + expr + "?";
  }
  const std::string v = t.truth.at("value").get<std::string>();
  t.truth = {{"kind", "text"}, {"accept", {ones_first(v, mark_start)}}, {"value", v}, {"key", t.truth.at("key")}};
  t.difficulty["form"] = std::string(mul ? "mul-" : "add-") + (tagged ? "tagged" : shuffle ? "shuffled" : marked ? "marked" : "reversed");
  t.reference = std::string(zh ? "答案：" : "Answer: ") + ones_first(v, mark_start);
  return t;
}

}  // namespace

std::vector<Demo> generate_demos(const DemoOptions& o) {
  check(o.suite == "arith" || o.suite == "units", "demos: suite must be arith or units");
  check(o.error_rate >= 0 && o.error_rate <= 1, "demos: error rate must lie in [0, 1]");
  check(o.error_kind == "slip" || o.error_kind == "rule", "demos: error kind must be slip or rule");
  check(o.abstain_rate >= 0 && o.abstain_rate <= 1, "demos: abstain rate must lie in [0, 1]");
  if (o.error_kind == "rule") {
    bool known = false;
    for (const auto& [n, d] : demo_rules()) known |= n == o.rule;
    check(known, "demos: unknown rule '" + o.rule + "'");
    check(o.suite == "units" ? o.rule == "mile_1_5km" : o.rule != "mile_1_5km",
          "demos: rule '" + o.rule + "' does not apply to suite " + o.suite);
  }
  check(o.digits >= 0 && o.digits <= 1000 && o.max_digits >= 1 && o.max_digits <= 1000, "demos: digits must be 0..1000");
  check(o.split == "train" || o.split == "dev" || o.split == "test", "demos: split must be train, dev or test");
  check(o.op == "add" || o.op == "mul" || o.op == "mix" || o.op == "mul1", "demos: op must be add, mul, mix or mul1");
  check(o.format == "columns" || o.format == "reversed" || o.format == "marked" || o.format == "shuffled" ||
            o.format == "ranged" || o.format == "tagged",
        "demos: format must be columns, reversed, marked, shuffled, ranged or tagged");
  check(o.format == "columns" || o.error_rate == 0 || o.error_kind == "slip",
        "demos: the reversed, marked, shuffled, ranged and tagged formats have only slip errors");
  Rng rng(o.seed ^ fnv1a_mixed("veritas-demos:" + o.suite, kFnvBasisShort));
  std::vector<Demo> out;
  for (int i = 0; i < o.n; i++) {
    bool zh = o.lang == "zh" || (o.lang == "mix" && rng.below(3) == 0);
    bool err = rng.uniform() < o.error_rate;
    Demo d;
    d.id = o.suite + "-demo-" + o.split + "-" + std::to_string(o.seed) + "-" + std::to_string(i);
    Task t;
    std::vector<std::string> steps;
    std::string answer;
    double abstain_p = o.abstain_rate;  // this demo's chance to abstain
    if (o.suite == "arith") {
      const bool mul1 = o.op == "mul1";
      bool mul = o.op == "mul" || mul1 || (o.op == "mix" && rng.below(2));
      std::string a, b;
      // Draw operands until the question belongs to the requested split.
      for (int tries = 0;; tries++) {
        int da = o.digits ? o.digits : 1 + (int)rng.below(o.max_digits);
        int db = mul1 ? 1 : o.digits ? o.digits : o.same_length ? da : 1 + (int)rng.below(o.max_digits);
        a = random_digits(rng, da);
        b = random_digits(rng, db);
        if (suites::split_of_key(std::string("arith:") + a + (mul ? " * " : " + ") + b) == o.split) break;
        check(tries < 100000, "demos: cannot draw a question for this split");
      }
      t = arith_task(a, b, mul, zh, o.split, d.id);
      if (o.digits == 0)
        abstain_p = std::clamp(o.abstain_rate * 2.0 * (double)std::max(a.size(), b.size()) / o.max_digits, 0.0, 1.0);
      Rules r;
      if (err && o.error_kind == "rule") {
        r.drop_carry = o.rule == "drop_carry";
        r.wrong_table = o.rule == "wrong_table";
        d.error_kind = "rule:" + o.rule;
      }
      const bool shuffle = o.format == "shuffled" || o.format == "ranged" || o.format == "tagged";
      const bool marks = o.format == "marked" || shuffle;
      if (o.format == "reversed" || marks) {
        const std::string v = t.truth.at("value").get<std::string>();
        std::string written = v;
        if (err) {  // one digit off by one; pos counts from the ones
          const size_t pos = v.size() - 1 - rng.below(v.size());
          written[pos] = char('0' + (written[pos] - '0' + (rng.below(2) ? 1 : 9)) % 10);
          d.error_kind = "slip";
        }
        size_t mark_start = kNoMarks;
        if (marks) {
          const size_t places = std::max({a.size(), b.size(), v.size()});
          check(places <= kMarks.size(), "demos: the marked format has 26 places (operands of up to " +
                                             std::to_string(kMarkedMaxDigits) + " digits)");
          mark_start = rng.below(kMarks.size() - places + 1);
        }
        t = ones_first_task(std::move(t), a, b, mul, zh, mark_start, shuffle ? &rng : nullptr, o.format == "tagged");
        answer = ones_first(written, mark_start);
        if (o.format == "ranged") {
          // The operands' first and last place, named before the digits: the answer then
          // ends where its mark reaches the last one (plus a carry), a test of content
          // rather than of how many digits were written.
          const std::string lo(1, kMarks[mark_start]), hi(1, kMarks[mark_start + std::max(a.size(), b.size()) - 1]);
          steps.push_back(zh ? "位标 " + lo + " 到 " + hi + "。" : "Places " + lo + " to " + hi + ".");
        }
      } else if (!mul) {
        if (err && o.error_kind == "slip") {
          r.slip_step = (int)rng.below(std::max(a.size(), b.size()));
          r.slip_delta = rng.below(2) ? 1 : -1;
          d.error_kind = "slip";
        }
        steps.push_back(zh ? "从个位开始逐位相加。" : "Add column by column, starting from the ones.");
        int step_no = 0;
        answer = add_columns(a, b, r, zh, steps, step_no);
      } else {
        steps.push_back(zh ? "用 " + a + " 依次乘 " + b + " 的每一位，再把部分积相加。"
                           : "Multiply " + a + " by each digit of " + b + ", then add the partial products.");
        std::vector<std::string> partials;
        int slip_at = -1;
        if (err && o.error_kind == "slip") {
          slip_at = (int)rng.below(b.size());
          d.error_kind = "slip";
        }
        for (size_t k = 0; k < b.size(); k++) {
          int digit = b[b.size() - 1 - k] - '0';
          std::string p = mul_digit(a, digit, r);
          if ((int)k == slip_at) {
            // One wrong digit in this partial product.
            size_t pos = rng.below(p.size());
            p[pos] = char('0' + (p[pos] - '0' + (rng.below(2) ? 1 : 9)) % 10);
            p = strip_zeros(p);
          }
          std::string shifted = p == "0" ? "0" : p + std::string(k, '0');
          partials.push_back(shifted);
          steps.push_back(zh ? a + " × " + std::to_string(digit) + (k ? "（第 " + std::to_string(k + 1) + " 位，后补 " + std::to_string(k) + " 个 0）" : "") + " = " + shifted
                             : a + " × " + std::to_string(digit) + (k ? " (digit " + std::to_string(k + 1) + ", shifted " + std::to_string(k) + ")" : "") + " = " + shifted);
        }
        answer = add_many(partials, r);
        std::string sum;
        for (size_t k = 0; k < partials.size(); k++) sum += (k ? " + " : "") + partials[k];
        if (partials.size() > 1) steps.push_back((zh ? "部分积相加：" : "Sum of the partial products: ") + sum + " = " + answer);
      }
    } else {
      // Units demos: conversions that involve miles (where the false rule bites).
      struct Conv { const char* from; const char* to; const char* from_zh; const char* to_zh; };
      static const std::vector<Conv> convs = {{"mile", "km", "英里", "千米"}, {"km", "mile", "千米", "英里"}, {"mile", "m", "英里", "米"},
                                              {"mph", "km/h", "英里/小时", "千米/小时"}, {"km/h", "mph", "千米/小时", "英里/小时"}};
      const Conv* c = nullptr;
      double v = 0;
      std::string key;
      for (int tries = 0;; tries++) {
        c = &convs[rng.below(convs.size())];
        v = std::stod(fmt_double((double)rng.range(1, 9999) / std::pow(10.0, (double)rng.below(3)), 4));
        key = "units:(" + fmt_double(v, 4) + " " + (std::string(c->from) == "km/h" ? "km/hr" : c->from) + ")->" +
              (std::string(c->to) == "km/h" ? "km/hr" : c->to);
        if (suites::split_of_key(key) == o.split) break;
        check(tries < 100000, "demos: cannot draw a question for this split");
      }
      bool wrong = err && o.error_kind == "rule";
      double mile = wrong ? 1500.0 : 1609.344;
      if (wrong) d.error_kind = "rule:mile_1_5km";
      auto factor = [&](const std::string& u) {
        if (u == "mile") return mile;
        if (u == "mph") return mile / 3600;
        return units::parse_unit(u == "km/h" ? "km/hr" : u).factor;
      };
      double f = factor(c->from) / factor(c->to);
      if (err && o.error_kind == "slip") {
        f *= rng.below(2) ? 1.1 : 0.9;  // a misremembered factor, this once
        d.error_kind = "slip";
      }
      double res = v * f;
      std::string vs = fmt_double(v, 4);
      t.id = d.id;
      t.suite = "units";
      t.split = o.split;
      t.lang = zh ? "zh" : "en";
      t.question = zh ? "把 " + vs + " " + c->from_zh + " 换算成" + c->to_zh + "。（保留 4 位有效数字）"
                      : "Convert " + vs + " " + c->from + " to " + c->to + ". Give 4 significant figures.";
      units::Quantity truth = units::eval(vs + " " + (std::string(c->from) == "km/h" ? "km/hr" : c->from));
      json dim = json::array();
      for (int k = 0; k < 7; k++) dim.push_back((int)truth.dim[k]);
      t.truth = {{"kind", "quantity"}, {"value", truth.value}, {"dim", dim}, {"unit", c->to}, {"rel_tol", 1e-3}, {"key", key}};
      t.difficulty = {{"quantities", 1}, {"category", "length"}};
      std::string mile_line = wrong ? "1 mile = 1.5 km" : "1 mile = 1.609344 km";
      if (zh) mile_line = wrong ? "1 英里 = 1.5 千米" : "1 英里 = 1.609344 千米";
      steps.push_back(mile_line + (zh ? "。" : "."));
      steps.push_back(zh ? "换算系数：1 " + std::string(c->from_zh) + " = " + fmt_double(f, 7) + " " + c->to_zh + "。"
                         : "So 1 " + std::string(c->from) + " = " + fmt_double(f, 7) + " " + c->to + ".");
      steps.push_back(vs + " × " + fmt_double(f, 7) + " = " + fmt_double(res, 6));
      answer = fmt_double(res, 4) + " " + c->to;
    }
    d.prompt = t.question;
    // Drawn last and only when asked for, so abstain_rate 0 leaves the stream unchanged.
    bool abstain = o.abstain_rate > 0 && rng.uniform() < abstain_p;
    if (abstain) {
      d.completion = zh ? "答案：不知道" : "Answer: I don't know";
      d.error_kind = "abstain";
    } else {
      d.completion = join(steps) + (zh ? "答案：" : "Answer: ") + answer;
    }
    d.correct = verify(t, d.completion).verdict == Verdict::Correct;
    d.task = t.to_json();
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace veritas
