#include "veritas/util/config.hpp"

#include <sstream>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace veritas {

json parse_toml(const std::string& text, const std::string& origin) {
  try {
    toml::table t = toml::parse(text, origin);
    std::ostringstream os;
    os << toml::json_formatter{t};
    return json::parse(os.str());
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << origin << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw Error("invalid TOML: " + os.str());
  }
}

json read_json_file(const std::filesystem::path& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw Error(path.string() + ": invalid JSON: " + e.what());
  }
}

json load_config(const std::filesystem::path& path) {
  std::string text = read_file(path);
  if (path.extension() == ".toml") return parse_toml(text, path.string());
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw Error("invalid JSON in " + path.string() + ": " + e.what());
  }
}

}  // namespace veritas
