#include "veritas/data/document.hpp"

namespace veritas {

const char* lang_code(Lang l) {
  switch (l) {
    case Lang::En: return "en";
    case Lang::Zh: return "zh";
    default: return "other";
  }
}

}  // namespace veritas
