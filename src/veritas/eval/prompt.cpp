#include "veritas/eval/prompt.hpp"

#include <cstdio>

#include "veritas/eval/answerer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/hash.hpp"

namespace veritas::eval {

namespace {

const char* kLangs[] = {"en", "zh"};

std::string drop_final_newline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

}  // namespace

nlohmann::json PromptSet::to_json() const {
  nlohmann::json fs = nlohmann::json::object();
  for (const auto& [l, p] : langs) fs[l] = p.fewshot.size();
  return {{"dir", dir}, {"version", version}, {"hash", hash}, {"fewshot", fs}};
}

PromptSet load_prompt_set(const std::string& dir) {
  fs::path d(dir);
  check(fs::is_directory(d), "prompt set " + dir + " is not a folder (expected e.g. prompts/answer-protocol/v1)");
  PromptSet ps;
  ps.dir = dir;
  fs::path norm = d.lexically_normal();
  if (norm.filename().empty()) norm = norm.parent_path();
  ps.version = norm.parent_path().filename().string() + "/" + norm.filename().string();
  std::string all;  // every file's bytes, for the hash
  for (const char* lang : kLangs) {
    PromptSet::Lang L;
    fs::path sys = d / (std::string("system.") + lang + ".txt");
    fs::path shots = d / (std::string("fewshot.") + lang + ".jsonl");
    check(fs::is_regular_file(sys), "prompt set " + dir + ": missing file " + sys.string());
    check(fs::is_regular_file(shots), "prompt set " + dir + ": missing file " + shots.string());
    std::string s = read_file(sys.string());
    all += s;
    L.system = drop_final_newline(s);
    check(!L.system.empty(), "prompt set: " + sys.string() + " is empty");
    std::string f = read_file(shots.string());
    all += f;
    size_t pos = 0;
    for (int line = 1; pos < f.size(); ++line) {
      size_t end = f.find('\n', pos);
      if (end == std::string::npos) end = f.size();
      std::string text = f.substr(pos, end - pos);
      pos = end + 1;
      if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
      std::string where = shots.string() + ":" + std::to_string(line);
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(text);
      } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (1e999)
        throw Error(where + ": not valid JSON (" + e.what() + ")");
      }
      check(j.is_object() && j.contains("question") && j["question"].is_string() && j.contains("answer") &&
                j["answer"].is_string(),
            where + ": expected {\"question\": \"...\", \"answer\": \"...\"}");
      L.fewshot.emplace_back(j["question"].get<std::string>(), j["answer"].get<std::string>());
    }
    ps.langs[lang] = std::move(L);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a(all));
  ps.hash = hex;
  return ps;
}

std::vector<ChatMessage> prompt_messages(const PromptSet* set, bool builtin_system, const Task& task) {
  std::vector<ChatMessage> msgs;
  if (set) {
    auto it = set->langs.find(task.lang);
    check(it != set->langs.end(), "prompt set " + set->dir + " has no prompts for language '" + task.lang + "'");
    msgs.push_back({"system", it->second.system});
    for (const auto& [q, a] : it->second.fewshot) {
      msgs.push_back({"user", q});
      msgs.push_back({"assistant", a});
    }
  } else if (builtin_system) {
    msgs.push_back({"system", protocol_prompt(task.lang)});
  }
  msgs.push_back({"user", task.question});
  return msgs;
}

}  // namespace veritas::eval
