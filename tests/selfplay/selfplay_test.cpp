// Self-play pieces: rewards, advantages, the policy-gradient loss (against PyTorch and
// finite differences), the proposers' filtering and the curriculum.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "veritas/model/model.hpp"
#include "veritas/model/safetensors.hpp"
#include "veritas/selfplay/policy_loss.hpp"
#include "veritas/selfplay/proposer.hpp"
#include "veritas/selfplay/reward.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/verify/suites.hpp"
#include "veritas/verify/task.hpp"

using namespace veritas;
using namespace veritas::selfplay;
namespace fs = std::filesystem;

// ------------------------------------------------------------------ rewards

TEST(Reward, VerdictsAndPenalty) {
  RewardConfig c;
  c.wrong_penalty = 3;
  EXPECT_EQ(reward({Verdict::Correct, "", std::nullopt}, c), 1.0);
  EXPECT_EQ(reward({Verdict::Abstained, "", std::nullopt}, c), 0.0);
  EXPECT_EQ(reward({Verdict::Wrong, "", std::nullopt}, c), -3.0);
  EXPECT_EQ(reward({Verdict::Malformed, "", 0.9}, c), -1.0);
  EXPECT_DOUBLE_EQ(break_even_confidence(c), 0.75);
  c.wrong_penalty = 1;
  EXPECT_DOUBLE_EQ(break_even_confidence(c), 0.5);
}

TEST(Reward, BrierTermIsAProperScore) {
  RewardConfig c;
  c.brier_weight = 0.5;
  EXPECT_DOUBLE_EQ(reward({Verdict::Correct, "", 1.0}, c), 1.0);
  EXPECT_DOUBLE_EQ(reward({Verdict::Correct, "", 0.6}, c), 1.0 - 0.5 * 0.16);
  EXPECT_DOUBLE_EQ(reward({Verdict::Wrong, "", 0.6}, c), -1.0 - 0.5 * 0.36);
  EXPECT_DOUBLE_EQ(reward({Verdict::Wrong, "", std::nullopt}, c), -1.0);  // no confidence stated
  // For a true chance p of being right, the expected Brier term is largest at c = p.
  const double p = 0.7;
  auto expected = [&](double conf) {
    return p * reward({Verdict::Correct, "", conf}, c) + (1 - p) * reward({Verdict::Wrong, "", conf}, c);
  };
  for (double conf : {0.0, 0.3, 0.5, 0.65, 0.75, 0.9, 1.0}) EXPECT_LT(expected(conf), expected(p) + 1e-15) << conf;
}

TEST(Advantages, StandardizedWithinGroup) {
  auto a = group_advantages({1, 0, -1, 1}, 0.0);
  double mean = 0, var = 0;
  for (double x : a) mean += x;
  for (double x : a) var += x * x;
  EXPECT_NEAR(mean, 0.0, 1e-12);
  EXPECT_NEAR(var / 4, 1.0, 1e-12);
  // r = (1, 0, -1, 1): mean 0.25, population sd sqrt(0.6875)
  EXPECT_NEAR(a[0], 0.75 / std::sqrt(0.6875), 1e-12);
  EXPECT_NEAR(a[2], -1.25 / std::sqrt(0.6875), 1e-12);
  for (double x : group_advantages({-1, -1, -1})) EXPECT_EQ(x, 0.0);  // nothing to learn
  EXPECT_TRUE(group_advantages({}).empty());
  auto e = group_advantages({1, 0}, 1e-4);  // eps keeps a tiny spread from exploding
  EXPECT_NEAR(e[0], 0.5 / (0.5 + 1e-4), 1e-12);
}

// ------------------------------------------------------------------ policy loss

TEST(PolicyLoss, ClippedTokensPassNoGradient) {
  PolicyLossConfig c;
  c.clip_eps = 0.2;
  // A > 0 and r = 1.5 > 1.2: clipped; A < 0 and r = 0.5 < 0.8: clipped; the others pass.
  float logp[4] = {std::log(1.5f), std::log(0.5f), std::log(1.1f), std::log(0.5f)};
  float old[4] = {0, 0, 0, 0}, adv[4] = {1, -1, 1, 2}, w[4] = {1, 1, 1, 1}, d[4];
  auto st = grpo_loss(logp, old, nullptr, adv, w, 4, c, d);
  EXPECT_EQ(d[0], 0.0f);
  EXPECT_EQ(d[1], 0.0f);
  EXPECT_NEAR(d[2], -1.1, 1e-6);
  EXPECT_NEAR(d[3], -2 * 0.5, 1e-6);
  EXPECT_NEAR(st.clipped, 0.5, 1e-12);
  EXPECT_NEAR(st.surrogate, 1.2 - 0.8 + 1.1 + 1.0, 1e-6);
  EXPECT_NEAR(st.loss, -st.surrogate, 1e-12);
}

TEST(PolicyLoss, MatchesFiniteDifferences) {
  Rng rng(7);
  const int n = 64;
  std::vector<float> lp(n), old(n), ref(n), adv(n), w(n), d(n);
  for (int i = 0; i < n; ++i) {
    lp[i] = (float)(-3 * rng.uniform());
    old[i] = lp[i] + (float)(0.6 * (rng.uniform() - 0.5));
    ref[i] = lp[i] + (float)(rng.uniform() - 0.5);
    adv[i] = (float)(2 * rng.uniform() - 1);
    w[i] = i % 7 == 0 ? 0.0f : (float)rng.uniform();
  }
  PolicyLossConfig c{0.2, 0.1};
  grpo_loss(lp.data(), old.data(), ref.data(), adv.data(), w.data(), n, c, d.data());
  std::vector<float> scratch(n);
  for (int i = 0; i < n; ++i) {
    const float h = 1e-3f;
    auto at = [&](float x) {
      auto v = lp;
      v[i] = x;
      return grpo_loss(v.data(), old.data(), ref.data(), adv.data(), w.data(), n, c, scratch.data()).loss;
    };
    const double r = std::exp((double)lp[i] - old[i]);
    if (std::fabs(r - 0.8) < 2e-3 || std::fabs(r - 1.2) < 2e-3) continue;  // kink of the clip
    const double fd = (at(lp[i] + h) - at(lp[i] - h)) / (2.0 * h);
    EXPECT_NEAR(d[i], fd, 2e-3 * (1 + std::fabs(fd))) << i;
  }
}

TEST(PolicyLoss, RejectsBadSettings) {
  float x[1] = {0}, d[1];
  EXPECT_THROW(grpo_loss(x, x, nullptr, x, x, 1, {0.0, 0.0}, d), Error);
  EXPECT_THROW(grpo_loss(x, x, nullptr, x, x, 1, {0.2, 0.1}, d), Error);  // KL needs the reference
}

// The loss and its gradient through the whole model against PyTorch autograd
// (tests/reference/grpo_ref.py), with clipped and unclipped tokens and the KL term.
TEST(PyTorchReference, GrpoLossAndGradient) {
  ModelConfig c;
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.intermediate_size = 80;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 64;
  c.tie_word_embeddings = false;
  const int B = 3, T = 10;
  Model m(c, B, T);
  Rng rng(11);
  for (auto& p : m.params())
    for (int64_t i = 0; i < p.size; ++i)
      p.data[i] = p.shape.size() == 1 ? (float)(1.0 + 0.2 * rng.normal()) : (float)(0.2 * rng.normal());
  std::vector<int32_t> in(B * T), tg(B * T);
  for (auto& x : in) x = (int32_t)rng.below(c.vocab_size);
  for (auto& x : tg) x = (int32_t)rng.below(c.vocab_size);
  std::vector<float> lp(B * T);
  m.token_logprobs(in.data(), tg.data(), B, T, lp.data());
  std::vector<float> old(B * T), ref(B * T), adv(B * T), w(B * T);
  for (int b = 0; b < B; ++b) {
    const float a = b == 0 ? 1.3f : b == 1 ? -0.7f : 0.4f;  // one advantage per sequence
    for (int t = 0; t < T; ++t) {
      const int n = b * T + t;
      old[n] = lp[n] + (float)(0.8 * (rng.uniform() - 0.5));  // ratios from about 0.67 to 1.5
      ref[n] = lp[n] + (float)(0.5 * (rng.uniform() - 0.5));
      adv[n] = a;
      w[n] = t < 3 ? 0.0f : 1.0f / (B * (T - 3));  // the first 3 positions are "prompt"
    }
  }
  const PolicyLossConfig pc{0.2, 0.05};
  auto dir = fs::temp_directory_path() / ("veritas-grpo-ref-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  c.save(dir / "config.json");
  m.save(dir / "model.safetensors");
  nlohmann::json batch{{"B", B}, {"T", T}, {"inputs", in}, {"targets", tg}, {"old_logp", old}, {"ref_logp", ref},
                       {"advantage", adv}, {"weight", w}, {"clip", pc.clip_eps}, {"beta", pc.kl_beta}};
  atomic_write_file(dir / "batch.json", batch.dump());
  std::string cmd = std::string("/usr/bin/python3 ") + VERITAS_SOURCE_DIR + "/tests/reference/grpo_ref.py " + dir.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto r = SafeTensors::load(dir / "ref.safetensors");

  m.zero_grad();
  PolicyLossStats st;
  const double loss = m.forward_backward_logprob(in.data(), tg.data(), B, T, [&](const float* logp, float* dlogp) {
    st = grpo_loss(logp, old.data(), ref.data(), adv.data(), w.data(), B * T, pc, dlogp);
    return st.loss;
  });
  std::vector<float> rl(1), rlp(B * T);
  r.read_f32("loss", {1}, rl.data());
  r.read_f32("logp", {B, T}, rlp.data());
  double e_lp = 0;
  for (int n = 0; n < B * T; ++n) e_lp = std::max(e_lp, (double)std::fabs(lp[n] - rlp[n]));
  const double e_loss = std::fabs(loss - rl[0]) / std::fabs(rl[0]);
  EXPECT_GT(st.clipped, 0.0) << "the batch should exercise the clip";
  EXPECT_LT(st.clipped, 1.0);
  double worst = 0;
  std::string worst_name;
  for (auto& p : m.params()) {
    std::vector<float> g(p.size);
    r.read_f32("grad." + p.name, p.shape, g.data());
    double num = 0, den = 1e-30;
    for (int64_t i = 0; i < p.size; ++i) {
      num = std::max(num, (double)std::fabs(p.grad[i] - g[i]));
      den = std::max(den, (double)std::fabs(g[i]));
    }
    EXPECT_LE(num / den, 1e-4) << p.name;
    if (num / den > worst) worst = num / den, worst_name = p.name;
  }
  std::printf("GRPO vs PyTorch: logp max|diff| %.2e, loss rel %.2e (%.8f vs %.8f), clipped share %.2f,"
              " worst gradient %.2e (%s)\n",
              e_lp, e_loss, loss, rl[0], st.clipped, worst, worst_name.c_str());
  EXPECT_LE(e_lp, 1e-5);
  EXPECT_LE(e_loss, 1e-5);
  fs::remove_all(dir);
}

// ------------------------------------------------------------------ proposers

TEST(Proposer, AcceptsAndCanonicalizes) {
  // Find a small sum in the train split (most are).
  for (int a = 10;; ++a) {
    std::string q = "What is " + std::to_string(a) + "+7?";
    auto pc = check_proposal(q, 6, "p1");
    if (!pc.task) {
      ASSERT_EQ(pc.reject, "not-train-split") << q;
      continue;
    }
    EXPECT_EQ(pc.task->question, "What is " + std::to_string(a) + " + 7?");
    EXPECT_EQ(pc.task->truth["value"], std::to_string(a + 7));
    EXPECT_EQ(pc.task->split, "train");
    EXPECT_EQ(verify(*pc.task, "Answer: " + std::to_string(a + 7)).verdict, Verdict::Correct);
    EXPECT_EQ(verify(*pc.task, "Answer: " + std::to_string(a + 8)).verdict, Verdict::Wrong);
    break;
  }
  auto zh = check_proposal("计算 (3 + 4) * 2^3。", 6, "p2");
  if (zh.task) {
    EXPECT_EQ(zh.task->question, "计算 (3 + 4) * 2^3。");
    EXPECT_EQ(zh.task->truth["value"], "56");
    EXPECT_EQ(zh.task->lang, "zh");
  } else {
    EXPECT_EQ(zh.reject, "not-train-split");
  }
}

TEST(Proposer, RejectsWhatTheVerifierCannotSettle) {
  EXPECT_EQ(check_proposal("Tell me a joke.", 6, "x").reject, "ill-formed");
  EXPECT_EQ(check_proposal("What is 12 +?", 6, "x").reject, "ill-formed");
  EXPECT_EQ(check_proposal("What is -3 + 4?", 6, "x").reject, "ill-formed");   // no unary minus
  EXPECT_EQ(check_proposal("What is (1 + 2?", 6, "x").reject, "ill-formed");
  EXPECT_EQ(check_proposal("What is 12?", 6, "x").reject, "ill-formed");       // no operation
  EXPECT_EQ(check_proposal("What is 007 + 1?", 6, "x").reject, "ill-formed");  // leading zeros
  EXPECT_EQ(check_proposal("What is 1+1+1+1+1+1?", 6, "x").reject, "ill-formed");  // > 4 operators
  EXPECT_EQ(check_proposal("What is x + 1?", 6, "x").reject, "ill-formed");
  EXPECT_EQ(check_proposal("What is 1234567 + 1?", 6, "x").reject, "too-large");
  EXPECT_EQ(check_proposal("What is 99^99?", 6, "x").reject, "too-large");
  for (std::string q : {"What is 5 / 0?", "What is 7 / (3 - 3)?"}) {
    auto pc = check_proposal(q, 6, "x");
    EXPECT_FALSE(pc.task.has_value()) << q;
  }
}

TEST(Proposer, NeverUsesEvaluationQuestions) {
  int rejected = 0, accepted = 0;
  for (int a = 100; a < 400; ++a) {
    const std::string expr = std::to_string(a) + " * 13";
    auto pc = check_proposal("What is " + expr + "?", 6, "x");
    const std::string split = suites::split_of_key("arith:" + expr);
    if (split == "train") {
      ASSERT_TRUE(pc.task.has_value()) << expr;
      ++accepted;
    } else {
      EXPECT_EQ(pc.reject, "not-train-split") << expr;
      ++rejected;
    }
    // Spacing does not sneak a test question in.
    auto tight = check_proposal("What is " + std::to_string(a) + "*13?", 6, "x");
    EXPECT_EQ(tight.task.has_value(), split == "train");
  }
  EXPECT_GT(rejected, 20);
  EXPECT_GT(accepted, 200);
}

TEST(Proposer, Learnability) {
  EXPECT_EQ(learnability(0.0), 0.0);
  EXPECT_EQ(learnability(1.0), 0.0);
  EXPECT_DOUBLE_EQ(learnability(0.25), 0.75);
  EXPECT_DOUBLE_EQ(learnability(0.875), 0.125);
}

TEST(Curriculum, LevelsFollowTheBand) {
  CurriculumConfig c{0.2, 0.8, 1, 5};
  EXPECT_EQ(adjust_level(3, 0.9, c), 4);
  EXPECT_EQ(adjust_level(3, 0.5, c), 3);
  EXPECT_EQ(adjust_level(3, 0.1, c), 2);
  EXPECT_EQ(adjust_level(5, 1.0, c), 5);
  EXPECT_EQ(adjust_level(1, 0.0, c), 1);
}

TEST(Curriculum, TasksAreDeterministicTrainSplitAndBounded) {
  for (const std::string s : {"add", "mul", "arith", "impossible"}) {
    auto a = curriculum_tasks(s, 3, 20, 42, "en"), b = curriculum_tasks(s, 3, 20, 42, "en");
    auto c = curriculum_tasks(s, 3, 20, 43, "en");
    ASSERT_EQ(a.size(), 20u) << s;
    bool differs = false;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].to_json(), b[i].to_json());
      differs |= a[i].question != c[i].question;
      EXPECT_EQ(a[i].split, "train");
      EXPECT_EQ(verify(a[i], a[i].reference).verdict, Verdict::Correct) << a[i].question;
    }
    EXPECT_TRUE(differs) << s;
  }
  std::set<int> digits;
  for (const auto& t : curriculum_tasks("add", 4, 200, 1, "en")) {
    const int d = t.difficulty["digits"];
    EXPECT_LE(d, 4);
    digits.insert(d);
    EXPECT_EQ(t.question.rfind("What is ", 0), 0u);
  }
  EXPECT_EQ(digits.size(), 4u);
  EXPECT_THROW(curriculum_tasks("poetry", 3, 1, 1, "en"), Error);
}
