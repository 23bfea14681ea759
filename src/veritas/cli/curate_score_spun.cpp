// `veritas curate score-spun`: the machine-spun detector's score for every document of a
// JSONL file, with its evidence, for evaluating the detector on text it was not fitted on
// (experiments/spun_eval). `veritas curate` registers it.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "veritas/cli/curate_classifier.hpp"
#include "veritas/curate_lm/spun_lm.hpp"
#include "veritas/data/langid.hpp"
#include "veritas/data/spun.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/text.hpp"

namespace veritas::cli {

namespace {

nlohmann::json features_json(const SpunFeatures& f, Lang lang) {
  nlohmann::json j = {{"prob", f.prob},
                      {"llr", f.llr},
                      {"words", f.words},
                      {"lexicon_hits", f.lexicon_hits},
                      {"unseen_bigrams", f.unseen_bigrams},
                      {"rare_words", f.rare_words},
                      {"suspicious", f.suspicious}};
  if (lang == Lang::En) j["syn_evidence"] = f.syn_evidence;
  if (lang == Lang::Zh) {
    j["char_pairs_unseen"] = f.char_pairs_unseen;
    j["single_char_words"] = f.single_char_words;
  }
  return j;
}

nlohmann::json lm_json(const SpunLmFeatures& f) {
  nlohmann::json j = {{"prob", f.prob},
                      {"llr", f.llr},
                      {"lm_prob", f.lm_prob},
                      {"lm_llr", f.lm_llr},
                      {"tokens", f.tokens},
                      {"mean_nll", f.mean_nll},
                      {"high_nll", f.high_nll},
                      {"very_high_nll", f.very_high_nll},
                      {"confident_miss", f.confident_miss},
                      {"mean_gap", f.mean_gap},
                      {"neighbour_2", f.neighbour_2},
                      {"neighbour_4", f.neighbour_4},
                      {"neighbour_evidence", f.neighbour_evidence}};
  if (!f.per_token.empty()) {
    // Columns, rounded to 1/1000 nat: a 300-word document's evidence stays a few KB.
    nlohmann::json id = nlohmann::json::array(), nll = id, gap = id, nb = id;
    const auto r3 = [](float v) { return std::round(v * 1000.0) / 1000.0; };
    for (const SpunLmToken& t : f.per_token) {
      id.push_back(t.id);
      nll.push_back(r3(t.nll));
      gap.push_back(r3(t.gap));
      nb.push_back(r3(t.neighbour));
    }
    j["per_token"] = {{"id", id}, {"nll", nll}, {"gap", gap}, {"neighbour", nb}};
  }
  return j;
}

// "" = none; "auto" = the installed model for the language; else a path.
std::unique_ptr<SpunLmScorer> lm_scorer(const std::string& arg, Lang lang, const SpunConfig& cfg) {
  if (arg.empty()) return nullptr;
  const std::string opt = std::string("--lm-") + lang_code(lang);
  const fs::path model = spun_lm_model(arg, lang, opt);
  check(!model.empty(), opt + " auto: the model is not installed (scripts/setup installs it)");
  Progress bar(std::string("spun-lm fit ") + lang_code(lang), 0, "text");
  auto s = std::make_unique<SpunLmScorer>(model.string(), lang);
  s->load_or_fit(cfg, [&](int done, int) { bar.update(done); });
  bar.finish();
  return s;
}

}  // namespace

void register_curate_score_spun(CLI::App* curate) {
  auto input = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto cache_dir = std::make_shared<std::string>();
  auto* cmd = curate->add_subcommand(
      "score-spun",
      "score every document of a JSONL file with the machine-spun detector ([spun], docs/curation-filters.md) and "
      "write it back with a \"spun\" object: prob (drop above 0.5), llr and the evidence");
  cmd->footer(
      "Each input line is a JSON object with \"text\" and optionally \"lang\" (\"en\" or \"zh\"; otherwise the\n"
      "curation language identifier decides). Documents in another language, or shorter than [spun] min_words,\n"
      "get \"spun\": null. Other fields are copied unchanged. The output is written atomically.\n"
      "With --lm-en/--lm-zh, \"spun\".\"lm\" has the language-model evidence (docs/curation-filters.md): prob\n"
      "combines it with the statistical score, lm_prob is the model's evidence alone; both are fit on the\n"
      "statistical detector's tuning split at first use (minutes) and cached.\n"
      "Example: veritas curate score-spun -i docs.jsonl -o scored.jsonl");
  cmd->add_option("-i,--input", *input, "JSONL file (plain, .gz or .zst)")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", *output, "JSONL file to write")->required();
  cmd->add_option("--cache-dir", *cache_dir, "where the detector's reference model is cached (default $VERITAS_CACHE or ~/.cache/veritas)");
  auto lm_en = std::make_shared<std::string>(), lm_zh = std::make_shared<std::string>();
  cmd->add_option("--lm-en", *lm_en,
                  "language-model evidence for English texts: a GGUF file or checkpoint, or \"auto\" (the installed "
                  "SmolLM2-135M-Instruct); adds \"lm\" to \"spun\"");
  cmd->add_option("--lm-zh", *lm_zh, "the same for Chinese texts (\"auto\": the installed Gemma 3 270M)");
  auto per_token = std::make_shared<bool>(false);
  cmd->add_flag("--per-token", *per_token,
                "with --lm-en/--lm-zh: also write each content token's evidence (\"lm\".\"per_token\": columns id, nll, "
                "gap, neighbour), for analyses that normalize within a document");
  cmd->callback([input, output, cache_dir, lm_en, lm_zh, per_token] {
    check(!*per_token || !lm_en->empty() || !lm_zh->empty(), "score-spun: --per-token needs --lm-en or --lm-zh");
    SpunConfig cfg;
    cfg.cache_dir = *cache_dir;
    const SpunModel& model = SpunModel::get(cfg);
    std::unique_ptr<SpunLmScorer> lm[2] = {lm_scorer(*lm_en, Lang::En, cfg), lm_scorer(*lm_zh, Lang::Zh, cfg)};
    AtomicFile out(*output);
    int64_t n = 0, scored = 0;
    Progress bar("score-spun", 0, "doc");
    for_each_json_line(*input, [&](const nlohmann::json& v, const std::string& where) {
      check(v.is_object() && v.contains("text") && v["text"].is_string(), where + ": expected an object with a string \"text\"");
      const std::string& text = v["text"].get_ref<const std::string&>();
      check(utf8_invalid_offset(text) == std::string::npos, where + ": \"text\" is not valid UTF-8");
      Lang lang = Lang::Other;
      if (v.contains("lang")) {
        check(v["lang"].is_string(), where + ": \"lang\" must be a string");
        const std::string& l = v["lang"].get_ref<const std::string&>();
        check(l == "en" || l == "zh", where + ": \"lang\" must be \"en\" or \"zh\", not \"" + l + "\"");
        lang = l == "en" ? Lang::En : Lang::Zh;
      } else {
        lang = identify_language(text).lang;
      }
      nlohmann::json rec = v;
      rec["spun"] = nullptr;
      if (lang != Lang::Other) {
        SpunFeatures f = model.score(text, lang);
        if (f.words >= cfg.min_words) {
          rec["spun"] = features_json(f, lang);
          if (auto& s = lm[lang == Lang::En ? 0 : 1]) rec["spun"]["lm"] = lm_json(s->score(text, f, *per_token));
          ++scored;
        }
      }
      out.write(rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      bar.update(++n);
    });
    bar.finish();
    out.commit();
    std::fprintf(stderr, "score-spun: %lld documents, %lld scored -> %s\n", (long long)n, (long long)scored, output->c_str());
  });
}

}  // namespace veritas::cli
