#include "veritas/tokenizer/spm.hpp"

#include <algorithm>
#include <queue>

#include "veritas/util/error.hpp"

namespace veritas::spm {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581

// "<0xXX>" (two upper-case hex digits) -> XX, else -1.
int byte_of(const std::string& p) {
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>' || hex(p[3]) < 0 || hex(p[4]) < 0) return -1;
  return hex(p[3]) * 16 + hex(p[4]);
}

size_t utf8_len(unsigned char c) {
  return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
}

struct Symbol {
  int prev, next;
  size_t start, n;  // bytes of the escaped text; n = 0 once merged into its left neighbour
};

struct Bigram {
  int left, right;
  float score;
  size_t size;
  // std::priority_queue pops the largest: the highest score, then the leftmost pair.
  bool operator<(const Bigram& o) const { return score < o.score || (score == o.score && left > o.left); }
};

}  // namespace

void Model::build(const std::string& name) {
  check(scores.size() == pieces.size() && special.size() == pieces.size() && control.size() == pieces.size(),
        name + ": tokenizer scores and token types must have one entry per token");
  by_piece_.clear();
  by_piece_.reserve(pieces.size());
  specials_.clear();
  for (auto& l : special_lengths_) l.clear();
  std::fill(std::begin(byte_token_), std::end(byte_token_), -1);
  for (int32_t id = 0; id < (int32_t)pieces.size(); ++id) {
    const std::string& p = pieces[id];
    check(!p.empty(), name + ": tokenizer.ggml.tokens[" + std::to_string(id) + "] is empty");
    // llama.cpp keeps the last id of a duplicated piece; none of the supported files has one.
    auto [it, fresh] = by_piece_.emplace(p, id);
    check(fresh, name + ": tokens " + std::to_string(it->second) + " and " + std::to_string(id) +
                     " are both \"" + p + "\"");
    if (int b = byte_of(p); b >= 0) byte_token_[b] = id;
    if (special[id]) {
      specials_.emplace(p, id);
      auto& lens = special_lengths_[(unsigned char)p[0]];
      if (std::find(lens.begin(), lens.end(), p.size()) == lens.end()) lens.push_back(p.size());
    }
  }
  for (auto& l : special_lengths_) std::sort(l.rbegin(), l.rend());
  for (int b = 0; b < 256; ++b)
    check(byte_token_[b] >= 0, name + ": the vocabulary has no byte token <0x" +
                                   std::string(1, "0123456789ABCDEF"[b >> 4]) + "0123456789ABCDEF"[b & 15] + ">");
}

void Model::encode(std::string_view text, std::vector<int32_t>& out) const { encode_piece(text, out); }

void Model::encode_piece(std::string_view raw, std::vector<int32_t>& out) const {
  if (raw.empty()) return;
  std::string text;
  text.reserve(raw.size() + 8);
  if (add_space_prefix) text += kSpace;
  for (char c : raw) {
    if (c == ' ')
      text += kSpace;
    else
      text += c;
  }
  std::vector<Symbol> sym;
  for (size_t at = 0; at < text.size();) {
    const size_t n = std::min(utf8_len((unsigned char)text[at]), text.size() - at);
    sym.push_back({(int)sym.size() - 1, -1, at, n});
    at += n;
  }
  for (size_t i = 0; i + 1 < sym.size(); ++i) sym[i].next = (int)i + 1;
  std::priority_queue<Bigram> queue;
  auto try_pair = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const size_t size = sym[l].n + sym[r].n;
    auto it = by_piece_.find(std::string_view(text).substr(sym[l].start, size));
    if (it == by_piece_.end()) return;
    queue.push({l, r, scores[it->second], size});
  };
  for (size_t i = 1; i < sym.size(); ++i) try_pair((int)i - 1, (int)i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol &l = sym[b.left], &r = sym[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // one side changed since
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_pair(l.prev, b.left);
    try_pair(b.left, l.next);
  }
  for (int i = 0; i != -1; i = sym[i].next) {
    const std::string_view s = std::string_view(text).substr(sym[i].start, sym[i].n);
    auto it = by_piece_.find(s);
    if (it != by_piece_.end()) {
      out.push_back(it->second);
    } else {
      // Every merged symbol is a token, so this is one character without one: its bytes.
      for (unsigned char c : s) out.push_back(byte_token_[c]);
    }
  }
}

void Model::encode_with_specials(std::string_view text, std::vector<int32_t>& out) const {
  // llama.cpp cuts out the longest special token first, across the whole text; at one
  // position the longest match is the same choice unless two specials overlap, which the
  // supported vocabularies' specials (markers in <...>, runs of one whitespace character)
  // cannot do with different results.
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto& lens = special_lengths_[(unsigned char)text[i]];
    for (size_t len : lens) {
      if (len > text.size() - i) continue;
      auto it = specials_.find(text.substr(i, len));
      if (it == specials_.end()) continue;
      encode_piece(text.substr(start, i - start), out);
      out.push_back(it->second);
      i += len - 1;
      start = i + 1;
      break;
    }
  }
  encode_piece(text.substr(start), out);
}

std::string Model::token_text(int32_t id) const {
  const std::string& p = pieces.at(id);
  if (special[id]) return p;
  if (int b = byte_of(p); b >= 0 && byte_token_[b] == id) return std::string(1, (char)b);
  std::string s;
  for (size_t i = 0; i < p.size();) {
    if (p.compare(i, kSpace.size(), kSpace) == 0) {
      s += ' ';
      i += kSpace.size();
    } else {
      s += p[i++];
    }
  }
  return s;
}

}  // namespace veritas::spm
