#pragma once
// Language-model evidence for the machine-spun detector. A spinner replaces words with
// synonyms that a language model would not have predicted in context, often where the
// model was confident of another word. data/ has the statistical detector and must not
// depend on a model, so this stage sits above infer/ and composes the two: per content
// token (English: a token that starts a word; Chinese: one that starts with a Han
// character) the model's surprisal, how far its most probable token was ahead of the
// actual one, and whether a token the model preferred is a neighbour of the actual one
// in the model's input embedding (a synonym source that needs no thesaurus, so it
// favours none of the evaluation's spinners) give eight document features; a logistic
// regression combines them with the statistical detector's score (the logit of its prob). Both are fit on the statistical
// detector's tuning split (clean Debian passages and their make_spun_copy copies), never
// on its held-out split nor on the evaluation sets of experiments/spun_eval, and cached
// beside the statistical model. See docs/curation-filters.md.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "veritas/data/curate.hpp"
#include "veritas/data/spun.hpp"

namespace veritas {

// One content token's evidence (kept on request, for analyses that normalize within a
// document; experiments/spun_eval).
struct SpunLmToken {
  int32_t id = 0;
  float nll = 0;        // -log p(token), nats
  float gap = 0;        // log p(top token) - log p(token), not clipped
  float neighbour = 0;  // d: how much more probable the most preferred neighbour was (0 if none)
};

struct SpunLmFeatures {
  int tokens = 0;             // content tokens scored
  double mean_nll = 0;        // mean -log p(token) over them (nats)
  double high_nll = 0;        // share with -log p > 6 (p < 0.25 %)
  double very_high_nll = 0;   // share with -log p > 10 (p < 0.005 %): a spun word stands out most here
  double confident_miss = 0;  // share where the model's top token had p >= 0.4 and this one p < 2 %
  double mean_gap = 0;        // mean of min(10, log p(top token) - log p(token))
  // A neighbour: one of the model's 16 most probable content tokens whose input embedding
  // has cosine >= 0.35 with this token's (the model's own idea of a similar word). d: how
  // much more probable (log) the most preferred neighbour was; 0 if none was.
  double neighbour_2 = 0;         // share of content tokens with d > 2
  double neighbour_4 = 0;         // ... d > 4
  double neighbour_evidence = 0;  // mean of min(10, max(0, d - 2))
  double lm_llr = 0, lm_prob = 0;  // the language-model evidence alone (prob 0.5 at its 1 % FP point)
  double llr = 0, prob = 0;        // combined with the statistical score (the same)
  std::vector<SpunLmToken> per_token;  // filled only when asked for (score's keep_tokens)
};

class SpunLmScorer {
 public:
  // model: a GGUF file or checkpoint folder with a tokenizer, for texts in `lang`.
  SpunLmScorer(const std::string& model, Lang lang);
  ~SpunLmScorer();
  // The language-model features alone (probabilities left 0); ids, when given, receives
  // the text's tokens; keep_tokens: also fill per_token.
  SpunLmFeatures features(std::string_view text, std::vector<int32_t>* ids = nullptr, bool keep_tokens = false);
  // Reads the fitted weights from spun_cache_dir(cfg) (keyed by the model file's name and
  // size, the language and cfg.lm_fit_passages), or fits them on cfg.lm_fit_passages
  // clean tuning passages and their spun copies and writes them there;
  // on_fit(done, total) reports the fitting's progress (minutes).
  void load_or_fit(const SpunConfig& cfg, const std::function<void(int, int)>& on_fit = {});
  // Features and probabilities (load_or_fit first); stat: the statistical detector's
  // features of the same text (SpunModel::score).
  // keep_tokens: also fill per_token.
  SpunLmFeatures score(std::string_view text, const SpunFeatures& stat, bool keep_tokens = false);
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The model a setting names: "" = none (empty path), "auto" = the installed one for the
// language (SmolLM2 for English, Gemma 3 270M for Chinese; empty when not installed), else
// the path, which must exist (an Error naming `setting` otherwise).
std::filesystem::path spun_lm_model(const std::string& arg, Lang lang, const std::string& setting);

// The curation stage "spun_lm" (after "spun"), when cfg names a model for English or
// Chinese (lm_en, lm_zh): documents of that language with at least cfg.min_words words
// get the score "spun.lm_prob" (cfg.lm_score: the model's evidence alone or combined)
// and are dropped as "spun.language_model" above cfg.lm_threshold. Models are loaded
// (and fit at first use) here. Appends to `notes` what the data card should say: which
// languages have the model's evidence, and why a language has none ("auto" with no
// model installed is a note, not an error; a path that does not exist is an Error).
// Empty when no language has a model.
std::vector<FilterStage> spun_lm_stages(const SpunConfig& cfg, std::vector<std::string>* notes);

// L2-regularised (penalty l2/2 * |w|^2, not on w[0]) logistic regression by Newton's
// method: weights over x's columns (x[i][0] = 1 for a bias). Used for the fit; exposed
// for its test.
std::vector<double> fit_logistic(const std::vector<std::vector<double>>& x, const std::vector<int>& y, double l2);

}  // namespace veritas
