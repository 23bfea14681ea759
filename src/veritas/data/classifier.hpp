#pragma once
// Learned quality score (curation stage 10, optional): a fastText classifier
// (libfasttext) trained from labelled JSONL ({"text": ..., "label": "good"|"bad"} or
// numeric 1/0). `veritas curate train-classifier` trains and saves it; curate loads it
// and drops documents whose P(good) is below the threshold (reason classifier.low_score).
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "veritas/data/document.hpp"

namespace veritas {

struct ClassifierConfig {
  std::string model;        // path to model.bin; "" disables the stage
  double threshold = 0.5;   // minimum P(good)
  static ClassifierConfig from_json(const nlohmann::json& j);
};

struct ClassifierTrainOptions {
  std::string input, output;
  int epochs = 10, word_ngrams = 2, dim = 50, threads = 0;
  int buckets = 200000;     // hashed n-gram rows (fastText's default 2M makes a 400 MB model)
  double lr = 0.5;
  int seed = 1;
};
// Trains and writes the model atomically; returns the training summary (examples, labels).
nlohmann::json train_quality_classifier(const ClassifierTrainOptions& opt);

// The text as the classifier sees it: ASCII lower-cased, one line, every Han character
// a separate token (so word n-grams become character n-grams in Chinese).
std::string classifier_tokens(std::string_view text);

class QualityClassifier {
 public:
  explicit QualityClassifier(const std::string& model_path);  // throws Error
  ~QualityClassifier();
  double prob_good(std::string_view text) const;  // thread-safe
  // Shared instance per model path (loaded once).
  static const QualityClassifier& get(const std::string& model_path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Decision check_classifier(Document& doc, const ClassifierConfig& cfg);

}  // namespace veritas
