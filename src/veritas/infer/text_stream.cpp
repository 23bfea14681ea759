#include "veritas/infer/text_stream.hpp"

#include <algorithm>

#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/text.hpp"

namespace veritas::infer {

size_t utf8_incomplete_tail(const std::string& s) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  size_t n = s.size();
  for (size_t k = 1; k <= 3 && k <= n; ++k) {
    unsigned char c = (unsigned char)s[n - k];
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > k ? k : 0;
  }
  return 0;
}

TextStream::TextStream(const Tokenizer* tok, std::vector<std::string> stop_strings) : tok_(tok) {
  for (auto& s : stop_strings)
    if (!s.empty()) stops_.push_back(std::move(s));
}

std::string TextStream::push(int32_t id) {
  if (!tok_ || stopped_) return {};
  // Models often have more ids than their tokenizer (padded vocabulary): those print nothing.
  if (id < 0 || id >= tok_->vocab_size()) return push_bytes({});
  return push_bytes(tok_->token_bytes(id));
}

std::string TextStream::push_bytes(const std::string& bytes) {
  if (stopped_) return {};
  pending_ += bytes;
  // A stop string can only start inside pending_: everything emitted earlier was checked
  // not to be a prefix of one.
  size_t cut = std::string::npos;
  for (auto& s : stops_) cut = std::min(cut, pending_.find(s));
  if (cut != std::string::npos) {
    std::string out = utf8_sanitize(pending_.substr(0, cut));
    pending_.clear();
    stopped_ = true;
    text_ += out;
    return out;
  }
  size_t hold = utf8_incomplete_tail(pending_);
  for (auto& s : stops_) {
    size_t maxk = std::min(s.size() - 1, pending_.size());
    for (size_t k = maxk; k > hold; --k)
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  }
  std::string out = utf8_sanitize(pending_.substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  text_ += out;
  return out;
}

std::string TextStream::flush() {
  if (stopped_) return {};
  // An unfinished character at the very end (the last token cut it) becomes U+FFFD.
  std::string out = utf8_sanitize(pending_);
  pending_.clear();
  text_ += out;
  return out;
}

}  // namespace veritas::infer
