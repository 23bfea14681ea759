#include "veritas/eval/answerer.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "veritas/util/error.hpp"
#include "veritas/util/hash.hpp"
#include "veritas/util/rng.hpp"

namespace veritas::eval {

std::string protocol_prompt(const std::string& lang) {
  if (lang == "zh")
    return "请回答问题。可以先写出推理过程，最后一行必须是“答案：<数值> [单位]”；如果问题无法回答、前提有误或答案未知，"
           "最后一行写“答案：我不知道”。可以再加一行“置信度：<0到1之间的数>”，表示你的答案正确的概率。";
  return "Answer the question. You may reason first; the final line must be 'Answer: <value> [unit]'. "
         "If the question cannot be answered, rests on a false premise, or the answer is not known, the final line "
         "must be 'Answer: I don't know'. You may add a line 'Confidence: <a number from 0 to 1>', the probability "
         "that your answer is correct.";
}

namespace {

const char* kAbstain = "Answer: I don't know";

std::string with_confidence(const std::string& answer, double c) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "\nConfidence: %.3f", c);
  return answer + buf;
}

class DoubleAnswerer : public Answerer {
 public:
  explicit DoubleAnswerer(DoubleOptions o) : o_(std::move(o)) {
    if (o_.kind == "random" || o_.kind == "calibrated") {
      for (double p : {o_.p_correct, o_.p_wrong, o_.p_abstain})
        check(p >= 0 && p <= 1, "double probabilities must lie in [0, 1]");
      check(o_.p_correct + o_.p_wrong + o_.p_abstain <= 1 + 1e-9,
            "double probabilities p_correct + p_wrong + p_abstain must not exceed 1");
      check(o_.kind != "calibrated" || o_.p_correct + o_.p_wrong > 0,
            "the calibrated double needs p_correct + p_wrong > 0");
    }
  }
  int max_parallel() const override { return 4; }  // stateless: answers are cheap and independent
  std::string describe() const override {
    if (o_.kind == "perfect" || o_.kind == "abstain") return "test double '" + o_.kind + "'";
    char buf[160];
    std::snprintf(buf, sizeof buf, "test double '%s' (p_correct %.3g, p_wrong %.3g, p_abstain %.3g, seed %llu)",
                  o_.kind.c_str(), o_.p_correct, o_.p_wrong, o_.p_abstain, (unsigned long long)o_.seed);
    return buf;
  }

  std::vector<std::string> answer(const Task& task, int k) override {
    std::vector<std::string> out;
    for (int i = 0; i < k; ++i) out.push_back(one(task, i));
    return out;
  }

 private:
  std::string correct(const Task& task) const {
    check(!task.reference.empty(), "task " + task.id + " has no reference answer for the test double");
    return task.reference;
  }
  std::string wrong(const Task& task) const {
    std::string w = wrong_answer(task);
    check(!w.empty(), "test double: found no answer that the verifier scores wrong for task " + task.id);
    return w;
  }
  // No final "Answer:" line: the protocol parser must call this malformed.
  static std::string malformed() { return "I think the result is probably 42, but I will not commit to it."; }

  std::string one(const Task& task, int sample) const {
    if (o_.kind == "perfect") return with_confidence("The reference answer follows.\n" + correct(task), 1.0);
    if (o_.kind == "abstain") return kAbstain;
    Rng rng(o_.seed ^ fnv1a(task.id) ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(sample + 1)));
    double u = rng.uniform();
    if (o_.kind == "random") {
      double c = rng.uniform();
      if (u < o_.p_correct) return with_confidence(correct(task), c);
      if (u < o_.p_correct + o_.p_wrong) return with_confidence(wrong(task), c);
      if (u < o_.p_correct + o_.p_wrong + o_.p_abstain) return kAbstain;
      return malformed();
    }
    // calibrated: abstain / malformed first, then an attempt whose confidence is its chance.
    double p_attempt = o_.p_correct + o_.p_wrong;
    if (u < o_.p_abstain) return kAbstain;
    if (u >= o_.p_abstain + p_attempt) return malformed();
    // Confidence uniform on [lo, hi] with mean q = p_correct / p_attempt, so that the
    // expected share of correct attempts is q and P(correct | c) = c.
    double q = o_.p_correct / p_attempt;
    double lo = std::max(0.0, 2 * q - 1), hi = std::min(1.0, 2 * q);
    double c = lo + (hi - lo) * rng.uniform();
    bool right = rng.uniform() < c;
    return with_confidence(right ? correct(task) : wrong(task), c);
  }

  DoubleOptions o_;
};

}  // namespace

const std::vector<std::string>& double_kinds() {
  static const std::vector<std::string> k = {"perfect", "abstain", "random", "calibrated"};
  return k;
}

std::unique_ptr<Answerer> make_double(const DoubleOptions& opts) {
  const auto& kinds = double_kinds();
  check(std::find(kinds.begin(), kinds.end(), opts.kind) != kinds.end(),
        "unknown test double '" + opts.kind + "' (expected perfect, abstain, random or calibrated)");
  return std::make_unique<DoubleAnswerer>(opts);
}

std::string wrong_answer(const Task& task) {
  std::vector<std::string> cands;
  // The reference with its leading significant digit changed: a number off by at least
  // ~10%, so it is wrong under any sane tolerance yet keeps the reference's unit.
  const std::string& ref = task.reference;
  size_t colon = ref.find(':');
  for (size_t i = colon == std::string::npos ? 0 : colon + 1; i < ref.size(); ++i) {
    if (ref[i] >= '1' && ref[i] <= '9') {
      std::string m = ref;
      m[i] = ref[i] == '9' ? '1' : (char)(ref[i] + 1);
      cands.push_back(m);
      break;
    }
  }
  for (const char* s : {"Answer: 42", "Answer: 7", "Answer: -3", "Answer: 0", "Answer: Xx", "Answer: blue"})
    cands.push_back(s);
  for (const auto& c : cands)
    if (verify(task, c).verdict == Verdict::Wrong) return c;
  return "";
}

}  // namespace veritas::eval
