#include "veritas/data/document.hpp"

#include <algorithm>

namespace veritas {

const char* lang_code(Lang l) {
  switch (l) {
    case Lang::En: return "en";
    case Lang::Zh: return "zh";
    default: return "other";
  }
}

const char* type_name(Field::Type t) {
  switch (t) {
    case Field::Null: return "null";
    case Field::Boolean: return "boolean";
    case Field::Integer:
    case Field::Float: return "number";
    case Field::String: return "string";
    case Field::Array: return "array";
    default: return "object";
  }
}

const Field* Document::field(std::string_view key) const {
  auto it = std::lower_bound(fields.begin(), fields.end(), key,
                             [](const Field& f, std::string_view k) { return std::string_view(f.key) < k; });
  return it != fields.end() && it->key == key ? &*it : nullptr;
}

}  // namespace veritas
