#pragma once
// Byte-level BPE tokenizer with GPT-2 pre-tokenization, loaded from / saved to
// Hugging Face tokenizer.json. Encoding then decoding returns the exact input bytes,
// invalid UTF-8 included.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace veritas {

// Special tokens veritas's own tokenizers carry (training adds them).
inline constexpr const char* kEndOfText = "<|endoftext|>";
inline constexpr const char* kSystem = "<|system|>";
inline constexpr const char* kUser = "<|user|>";
inline constexpr const char* kAssistant = "<|assistant|>";
inline constexpr const char* kEndOfTurn = "<|end|>";

class Tokenizer {
 public:
  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  static Tokenizer load(const std::filesystem::path& tokenizer_json);  // throws Error
  void save(const std::filesystem::path& tokenizer_json) const;          // atomic

  // Plain text: special-token strings inside `text` are encoded as ordinary bytes.
  std::vector<int32_t> encode(std::string_view text) const;
  // Like encode, but recognizes the added/special token strings in `text`.
  std::vector<int32_t> encode_with_specials(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string token_bytes(int32_t id) const;  // raw bytes of one token (special: its text)

  int32_t vocab_size() const;
  std::optional<int32_t> token_id(std::string_view special_or_token) const;
  int32_t eot_id() const;  // <|endoftext|>; throws if absent

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace veritas
