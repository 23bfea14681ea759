#pragma once
// Config files: JSON or TOML (chosen by extension), both returned as nlohmann::json so
// every stage reads its settings one way. get_or() reads a key with a default.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace veritas {

using json = nlohmann::json;

json load_config(const std::filesystem::path& path);      // .toml or .json; throws Error
// A JSON file (config.json, tokenizer_config.json, ...); throws Error "PATH: invalid JSON: ...".
json read_json_file(const std::filesystem::path& path);
json parse_toml(const std::string& text, const std::string& origin = "<toml>");

template <class T>
T get_or(const json& j, const char* key, T fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

}  // namespace veritas
