#pragma once
// Versioned prompt sets that teach a model the answer protocol (docs/answer-protocol.md):
// a folder prompts/<name>/<version>/ with, per language L (en, zh),
//   system.L.txt     the system message (one trailing newline of the file is dropped)
//   fewshot.L.jsonl  worked examples, one {"question": ..., "answer": ...} per line, sent
//                    as user / assistant turns before the real question
// The texts are used verbatim; the version and a hash of the files go into the report.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/verify/task.hpp"

namespace veritas::eval {

struct PromptSet {
  struct Lang {
    std::string system;
    std::vector<std::pair<std::string, std::string>> fewshot;  // (question, answer)
  };
  std::string dir;      // as given
  std::string version;  // "<name>/<version>", the folder's last two components
  std::string hash;     // FNV-1a of every file's bytes, in a fixed order (hex)
  std::map<std::string, Lang> langs;  // "en", "zh"
  nlohmann::json to_json() const;     // {"dir", "version", "hash", "fewshot": {lang: count}}
};

// Reads a prompt-set folder; throws Error naming the missing or malformed file.
PromptSet load_prompt_set(const std::string& dir);

// The conversation sent for one question: the prompt set's system message and few-shot
// turns for task.lang (a language the set lacks is an Error), or, without a set, the
// built-in protocol_prompt() as system message when `builtin_system` is true.
std::vector<ChatMessage> prompt_messages(const PromptSet* set, bool builtin_system, const Task& task);

}  // namespace veritas::eval
