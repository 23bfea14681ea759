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
#include <utility>
#include <vector>

namespace veritas {

namespace spm {
struct Model;
}

// Special tokens veritas's own tokenizers carry (training adds them).
inline constexpr const char* kEndOfText = "<|endoftext|>";
inline constexpr const char* kSystem = "<|system|>";
inline constexpr const char* kUser = "<|user|>";
inline constexpr const char* kAssistant = "<|assistant|>";
inline constexpr const char* kEndOfTurn = "<|end|>";

// An entry of tokenizer.json's added_tokens: matched as a whole string by
// encode_with_specials, decoded to its content.
struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = true;
};

// How text is cut into pieces before BPE. Gpt2: GPT-2's pattern (pretokenize.hpp).
// Gpt2Digits: every Unicode number character is a piece of its own, the GPT-2 pattern
// runs on the text between them (Hugging Face Digits(individual_digits) + ByteLevel;
// llama.cpp's "smollm" pre-tokenizer). Llama3 / Qwen2: the Llama 3 and Qwen2 patterns
// (pretokenize.hpp; llama.cpp's "llama-bpe" and "qwen2", Hugging Face Split + ByteLevel).
enum class PreTokenization { Gpt2, Gpt2Digits, Llama3, Qwen2 };

class Tokenizer {
 public:
  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  static Tokenizer load(const std::filesystem::path& tokenizer_json);  // throws Error
  // Same from the file's text; `name` is used in error messages.
  static Tokenizer from_json(std::string_view json_text, const std::string& name = "tokenizer.json");
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

  // Builds a byte-level BPE tokenizer. token_bytes[id] holds the raw bytes of token id
  // (empty: no token has that id); every single byte must be a token; merge r joins
  // (left, right) into the token whose bytes are their concatenation, rank r.
  // Added tokens may reuse an id of token_bytes or take a new one. Throws Error.
  // require_all_bytes = false (imported vocabularies that lack some bytes, e.g.
  // SmolLM's control characters): a byte without a token is dropped when encoding, as
  // Hugging Face tokenizers does without an unknown token.
  static Tokenizer from_bpe(const std::vector<std::string>& token_bytes,
                            const std::vector<std::pair<int32_t, int32_t>>& merges,
                            const std::vector<AddedToken>& added, bool require_all_bytes = true);
  // A SentencePiece-style tokenizer (spm.hpp, from a GGUF file with tokenizer.ggml.model
  // "llama"): encode runs the model's merges by score; its special pieces (control and
  // user-defined tokens) are added tokens, control ones special. `name` is used in errors.
  // save() refuses it (tokenizer.json is written for byte-level BPE only).
  static Tokenizer from_spm(spm::Model model, const std::string& name);
  bool is_spm() const;
  // The token a prompt starts with when the model's file asks for one (Gemma's <bos>).
  void set_bos_id(std::optional<int32_t> id);
  std::optional<int32_t> bos_id() const;
  const std::vector<std::pair<int32_t, int32_t>>& merges() const;
  const std::vector<AddedToken>& added_tokens() const;

  // Set by importers of other formats (GGUF): pre-tokenization variant, end-of-sequence
  // token, and the model's own Jinja chat template (empty: veritas's template; see
  // chat_template.hpp). save() writes the pre-tokenization, the NFC normalizer and
  // ignore_merges as tokenizer.json does.
  void set_pre_tokenization(PreTokenization p);
  PreTokenization pre_tokenization() const;
  void set_eos_id(std::optional<int32_t> id);
  std::optional<int32_t> eos_id() const;
  void set_chat_template(std::string jinja);
  const std::string& chat_template() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Builds a tokenizer from GPT-2's original files (encoder.json + vocab.bpe);
// <|endoftext|> becomes a special added token.
Tokenizer import_gpt2(const std::filesystem::path& encoder_json, const std::filesystem::path& vocab_bpe);

}  // namespace veritas
