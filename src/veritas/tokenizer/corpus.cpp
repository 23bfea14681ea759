#include "veritas/tokenizer/corpus.hpp"

#include <cstdio>
#include <iterator>

#include <nlohmann/json.hpp>

#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/text.hpp"

namespace veritas {

bool is_jsonl(const std::filesystem::path& path) { return path.extension() == ".jsonl"; }

void for_each_document(const std::filesystem::path& path, const std::function<void(std::string_view)>& fn) {
  if (path == "-") {
    std::string text;
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) text.append(buf, n);
    fn(text);
    return;
  }
  if (!is_jsonl(path)) {
    fn(read_file(path));
    return;
  }
  for_each_json_line(path.string(), [&](const nlohmann::json& j, const std::string& where) {
    check(j.is_object(), where + ": each line must be a JSON object");
    auto it = j.find("text");
    if (it != j.end() && it->is_string()) {
      fn(it->get_ref<const std::string&>());
      return;
    }
    // An SFT line (veritas tasks demos, train --sft): its messages, one per line.
    auto m = j.find("messages");
    check(m != j.end() && m->is_array(), where + ": missing string field \"text\" (or the \"messages\" of an SFT line)");
    std::string text;
    for (const auto& msg : *m) {
      check(msg.is_object() && msg.contains("content") && msg["content"].is_string(),
            where + ": each message needs a string \"content\"");
      if (!text.empty()) text += '\n';
      text += msg["content"].get<std::string>();
    }
    fn(text);
  });
}

}  // namespace veritas
