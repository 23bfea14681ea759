#pragma once
// The curation stages share these types. A stage looks at one document and either keeps
// it (possibly adding scores or rewriting text, e.g. PII masking) or drops it with a
// reason code from docs/curation.md and the detail that triggered it.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace veritas {

enum class Lang { En, Zh, Other };
const char* lang_code(Lang l);  // "en", "zh", "other"

// One top-level field of the input object, kept to be written back to kept.jsonl.
struct Field {
  enum Type { Null, Boolean, Integer, Float, String, Array, Object };
  std::string key;
  Type type = Null;
  std::string value;  // String: the decoded text; otherwise the value's JSON text
};
const char* type_name(Field::Type t);  // JSON type names: "null", "boolean", "number", ...

struct Document {
  std::vector<Field> fields;  // the input object: keys unique, sorted bytewise
  std::string id, text;       // text is normalized after the normalization stage
  std::string title;          // optional (keyword-stuffing checks use it)
  Lang lang = Lang::Other;
  double lang_score = 0;
  std::vector<std::pair<std::string, double>> scores;  // written to kept.jsonl as "scores"

  const Field* field(std::string_view key) const;  // nullptr when absent
  // The field's string value; nullptr when absent or not a string.
  const std::string* string_field(std::string_view key) const {
    const Field* f = field(key);
    return f && f->type == Field::String ? &f->value : nullptr;
  }
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
