#pragma once
// Turns generated token ids into text as it becomes final: bytes of an unfinished UTF-8
// character and a tail that could still grow into a stop string are held back, and the
// text is cut right before the first stop string. What it returns is always valid UTF-8:
// a byte sequence the tokens spell that is not (a stray continuation byte, a character
// left unfinished when generation ends) becomes U+FFFD.
#include <cstdint>
#include <string>
#include <vector>

namespace veritas {
class Tokenizer;
}

namespace veritas::infer {

class TextStream {
 public:
  TextStream(const Tokenizer* tok, std::vector<std::string> stop_strings);
  // Adds one token's bytes; returns the text that is now final (possibly empty).
  std::string push(int32_t id);
  std::string push_bytes(const std::string& bytes);
  // End of generation: returns what was held back (unless a stop string was hit).
  std::string flush();
  bool stopped() const { return stopped_; }  // a stop string appeared
  const std::string& text() const { return text_; }  // everything returned so far

 private:
  const Tokenizer* tok_;
  std::vector<std::string> stops_;
  std::string pending_, text_;
  bool stopped_ = false;
};

// Length of an unfinished UTF-8 sequence at the end of s (0..3).
size_t utf8_incomplete_tail(const std::string& s);

}  // namespace veritas::infer
