#pragma once
// GPT-2 pre-tokenization and the GPT-2 byte <-> unicode alphabet, written by hand (no
// regex engine). The pieces are exactly the matches of
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// where \p{L}, \p{N} come from utf8proc's Unicode categories and \s is the Unicode
// White_Space property. An invalid UTF-8 byte is a character of its own in the
// "other" class, so every input, valid or not, is split into pieces that join back to it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace veritas::bpe {

enum class CharClass : uint8_t { Letter, Number, Space, Other };

// Decodes one character at s[i] (strict UTF-8: no overlongs, surrogates or > U+10FFFF).
// Returns its byte length (1 for an invalid byte) and sets cp (-1 for an invalid byte).
size_t decode_char(std::string_view s, size_t i, int32_t& cp);
CharClass char_class(int32_t cp);  // cp = -1 (invalid byte) is Other

// Gpt2: the pattern above. Llama3 (llama.cpp "llama-bpe") and Qwen2 ("qwen2"):
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// with \p{N} alone instead of \p{N}{1,3} for Qwen2.
enum class Pattern : uint8_t { Gpt2, Llama3, Qwen2 };
// The two patterns as Llama 3's and Qwen2's tokenizer.json write them (Split's Regex).
inline constexpr const char* kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr const char* kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class PreTokenizer {
 public:
  explicit PreTokenizer(std::string_view text, Pattern p = Pattern::Gpt2) : s_(text), pattern_(p) {}
  bool next(std::string_view& piece);  // false at the end

 private:
  bool next_gpt2(std::string_view& piece);
  bool next_llama3(std::string_view& piece);
  std::string_view s_;
  Pattern pattern_;
  size_t pos_ = 0;
};

// GPT-2's reversible byte -> printable code point map (printable Latin-1 bytes map to
// themselves, the rest to U+0100 onwards).
int32_t byte_to_unicode(uint8_t b);
int byte_from_unicode(int32_t cp);  // -1 when cp is not in the alphabet
std::string bytes_to_token_string(std::string_view bytes);  // raw bytes -> mapped UTF-8
// Mapped UTF-8 -> raw bytes; false when the string is not made of alphabet characters.
bool token_string_to_bytes(std::string_view token, std::string& out);

}  // namespace veritas::bpe
