#pragma once
// Input documents for tokenizer training and tokenization: a .jsonl file gives one
// document per line (its "text" field, or an SFT line's message contents joined by
// newlines); any other file is one document (its bytes).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace veritas {

// Calls fn(text) for each document, in file order. Blank JSONL lines are skipped; a line
// that is not a JSON object with a string "text" field or a "messages" array of objects
// with a string "content" is an Error naming file:line.
// "-" reads stdin as one plain-text document.
void for_each_document(const std::filesystem::path& path, const std::function<void(std::string_view)>& fn);
bool is_jsonl(const std::filesystem::path& path);

}  // namespace veritas
