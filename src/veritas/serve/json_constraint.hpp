#pragma once
// Structured output: a JSON schema (a subset) compiled into a checker that tells, for the
// text generated so far, whether it can still become a valid document. The scheduler
// samples only tokens that keep the text viable, and stops when the document is complete,
// so the constraint is enforced during decoding, not checked afterwards.
//
// Supported keywords: type (object, array, string, number, integer, boolean, null; one
// type, not a list), properties, required, additionalProperties (a boolean), items, enum
// (strings), and title / description / $schema / strict (ignored). The root must be an
// object. Anything else (anyOf, $ref, pattern, minimum, not, ...) is refused with a clear
// error rather than silently ignored. Whitespace outside strings is limited to 2 bytes in
// a row, so a model cannot stall in blank space.
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace veritas::serve {

class JsonConstraint {
 public:
  enum class State { Invalid, Partial, Complete };

  // schema == nullptr: any JSON object (response_format json_object). Returns the
  // constraint, or an error message naming the offending part of the schema.
  static std::variant<std::shared_ptr<const JsonConstraint>, std::string> compile(const nlohmann::json* schema);

  State check(std::string_view text) const;

  struct Node {
    enum Type { Any, Object, Array, String, Number, Integer, Boolean, Null } type = Any;
    std::vector<std::pair<std::string, int>> props;  // name -> node
    std::vector<std::string> required;
    bool additional = true;
    bool has_enum = false;
    std::vector<std::string> enums;
    int items = -1;  // node of array elements; -1 = any
  };

 private:
  std::vector<Node> nodes_;  // nodes_[0] is the root
};

}  // namespace veritas::serve
