#pragma once
// SentencePiece-style tokenizer as llama.cpp runs GGUF files with tokenizer.ggml.model =
// "llama" (Gemma 3, Llama 2): spaces become U+2581 (▁), the text starts as one symbol per
// UTF-8 character, and the adjacent pair whose concatenation is a vocabulary token with the
// highest score is merged until none is left (ties: the leftmost pair). A symbol that is not
// a token falls back to its bytes' <0xXX> tokens. Control and user-defined tokens are cut
// out of the text first (encode_with_specials), longest token first.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace veritas::spm {

struct Model {
  // By id: the piece as stored (with ▁), its score, and whether it is matched whole in
  // the text (control and user-defined tokens).
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<bool> special;
  std::vector<bool> control;  // of the special ones: control tokens (<bos>, <end_of_turn>)
  bool add_space_prefix = false;

  // Builds the lookup tables; throws Error (naming `name`) when a byte token <0xXX> is
  // missing or a piece appears twice.
  void build(const std::string& name);

  void encode(std::string_view text, std::vector<int32_t>& out) const;
  void encode_with_specials(std::string_view text, std::vector<int32_t>& out) const;
  // The bytes a token stands for: ▁ as a space, <0xXX> as that byte, a special token as
  // its text.
  std::string token_text(int32_t id) const;

 private:
  std::unordered_map<std::string_view, int32_t> by_piece_;  // views into pieces
  int32_t byte_token_[256] = {};
  // Specials by their first byte: the distinct lengths, longest first, and the tokens.
  std::vector<std::vector<size_t>> special_lengths_ = std::vector<std::vector<size_t>>(256);
  std::unordered_map<std::string_view, int32_t> specials_;
  void encode_piece(std::string_view text, std::vector<int32_t>& out) const;
};

}  // namespace veritas::spm
