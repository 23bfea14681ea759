#pragma once
// Byte-level BPE training. Words (GPT-2 pre-tokenizer pieces) are counted once; each
// merge then updates only the words that hold the chosen pair, using an index
// pair -> words and a max-heap of pair counts with lazy invalidation. Nothing is ever
// recounted from scratch.
//
// Ids: 0..255 are the single bytes (id = byte value), merges add ids from 256 on, and
// the special tokens take the last ids. Ties between equally frequent pairs go to the
// pair with the smaller (left id, right id), so training is deterministic.
//
// split_digits (off by default): words that contain an ASCII digit 0-9 contribute no
// pair counts, so no merge contains a digit byte and every number encodes as one token
// per digit (as in the Llama and PaLM tokenizers). Pieces such as " 5" stay unmerged too.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "veritas/tokenizer/tokenizer.hpp"

namespace veritas {

class BpeTrainer {
 public:
  BpeTrainer();
  ~BpeTrainer();
  // Never merge digits (see above). May be set any time before train().
  void set_split_digits(bool on);
  bool split_digits() const;
  void add_text(std::string_view text);                 // pre-tokenize and count
  void add_texts(const std::vector<std::string>& texts);  // same, in parallel
  size_t unique_words() const;
  int64_t total_words() const;
  // vocab_size counts bytes, merges and specials. Stops early when no pair occurs at
  // least min_frequency times. progress: draw a progress bar on stderr.
  Tokenizer train(int vocab_size, const std::vector<std::string>& specials, int64_t min_frequency = 2,
                  bool progress = false);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The special tokens veritas adds to the tokenizers it trains (tokenizer.hpp).
std::vector<std::string> default_special_tokens();

}  // namespace veritas
