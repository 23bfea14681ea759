#pragma once
// The curation stages share these types. A stage looks at one document and either keeps
// it (possibly adding scores or rewriting text, e.g. PII masking) or drops it with a
// reason code from docs/curation.md and the detail that triggered it.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace veritas {

enum class Lang { En, Zh, Other };
const char* lang_code(Lang l);  // "en", "zh", "other"

struct Document {
  nlohmann::json raw;    // the input object, all fields kept
  std::string id, text;  // text is normalized after the normalization stage
  std::string title;     // optional (keyword-stuffing checks use it)
  Lang lang = Lang::Other;
  double lang_score = 0;
  std::vector<std::pair<std::string, double>> scores;  // written to kept.jsonl as "scores"
};

struct Decision {
  bool keep = true;
  std::string reason;  // reason code when dropped, e.g. "quality.short", "spam.keyword_stuffing"
  std::string detail;  // what triggered it: rule, value, threshold
  static Decision ok() { return {}; }
  static Decision drop(std::string reason, std::string detail) {
    return {false, std::move(reason), std::move(detail)};
  }
};

}  // namespace veritas
