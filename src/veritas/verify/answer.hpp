#pragma once
// The answer protocol (docs/answer-protocol.md): free text, then a final line
// "Answer: <value> [unit]" (or "答案：..."), optionally followed by "Confidence: p".
// Strict about where the final line is; tolerant about how the value is written.
#include <optional>
#include <string>
#include <string_view>

namespace veritas {

struct ParsedAnswer {
  enum class Kind {
    Value,         // a concrete answer in `value`
    DontKnow,      // "I don't know" / "不知道": an abstention
    CannotAnswer,  // "cannot be determined", "no solution", "undefined", "无解": a claim
                   // that the question has no answer (right only on impossible tasks)
    Malformed      // no parseable final Answer line; `error` says why
  };
  Kind kind = Kind::Malformed;
  std::string value;  // the text after "Answer:", trimmed, trailing '.'/'。' removed
  std::optional<double> confidence;
  std::string error;
};

ParsedAnswer parse_answer(std::string_view text);

// Lower-cases ASCII, folds full-width ASCII forms, collapses spaces; used to compare
// free-text values (element names, ...).
std::string normalize_text(std::string_view s);

}  // namespace veritas
