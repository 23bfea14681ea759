// `veritas curate train-classifier`: trains the optional learned quality score (a
// fastText classifier) from labelled JSONL. `veritas curate` registers it.
#include "veritas/cli/curate_classifier.hpp"

#include <cstdio>
#include <memory>

#include "veritas/data/classifier.hpp"

namespace veritas::cli {

void register_curate_classifier(CLI::App* curate) {
  auto opt = std::make_shared<ClassifierTrainOptions>();
  auto* cmd = curate->add_subcommand(
      "train-classifier",
      "train the learned quality score: a fastText classifier from labelled JSONL lines "
      "{\"text\": ..., \"label\": \"good\"|\"bad\" (or 1/0, true/false)}; curate uses P(good) with "
      "[classifier] model and threshold");
  cmd->add_option("--input", opt->input, "labelled JSONL file")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", opt->output, "model file to write (atomically)")->required();
  cmd->add_option("--epochs", opt->epochs, "training epochs")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--lr", opt->lr, "learning rate")->capture_default_str()->check(CLI::Range(1e-6, 10.0));
  cmd->add_option("--word-ngrams", opt->word_ngrams, "word n-gram length (Han characters count as words)")
      ->capture_default_str()
      ->check(CLI::Range(1, 5));
  cmd->add_option("--dim", opt->dim, "embedding size")->capture_default_str()->check(CLI::Range(2, 1000));
  cmd->add_option("--buckets", opt->buckets, "hashed n-gram rows")->capture_default_str()->check(CLI::Range(1000, 10000000));
  cmd->add_option("--threads", opt->threads, "training threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--seed", opt->seed, "random seed")->capture_default_str();
  cmd->callback([opt] {
    nlohmann::json summary = train_quality_classifier(*opt);
    std::printf("%s\n", summary.dump().c_str());
  });
}

}  // namespace veritas::cli
