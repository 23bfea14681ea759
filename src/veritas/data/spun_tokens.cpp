#include "veritas/data/spun_tokens.hpp"

#include "veritas/data/text_sources.hpp"
#include "veritas/util/fs.hpp"

namespace veritas::spun {

void load_zh_dict(ZhDict& d, bool with_pos) {
  std::string text = read_file(sources::kJiebaDict);
  double total = 0;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    size_t a = line.find(' ');
    if (a == std::string_view::npos) continue;
    size_t b = line.find(' ', a + 1);
    std::string_view word = line.substr(0, a);
    uint32_t f = (uint32_t)std::strtoul(std::string(line.substr(a + 1, b == std::string_view::npos ? b : b - a - 1)).c_str(), nullptr, 10);
    if (!f) continue;
    d.freq.add(hash_bytes(word), f);
    total += f;
    int chars = 0;
    size_t i = 0;
    while (i < word.size()) {
      utf8_next(word, i);
      ++chars;
      d.prefix.add(hash_bytes(word.substr(0, i)), 1);
    }
    d.max_chars = std::max(d.max_chars, chars);
    if (with_pos && b != std::string_view::npos) {
      std::string p(line.substr(b + 1));
      while (!p.empty() && (p.back() == '\r' || p.back() == ' ')) p.pop_back();
      if (f >= 50 && chars >= 2) d.by_pos[{p, chars}].emplace_back(word);
      d.pos_of.emplace(std::string(word), p);
    }
  }
  check(total > 0, std::string(sources::kJiebaDict) + ": no entries (is python3-jieba installed?)");
  d.log_total = std::log(total);
}

void segment_run(const ZhDict& d, std::string_view run, std::vector<Seg>& out) {
  thread_local std::vector<uint64_t> hs;
  hs.clear();
  segment_runs(d, [&](uint64_t h) { return DictHit{d.freq.get(h), d.prefix.get(h) != 0}; }, [](uint64_t) {},
               run, {Run{0, run.size()}}, out, hs);
}

void tokens_en(std::string_view s, std::vector<Tok>& out) {
  out.clear();
  bool brk = true;
  size_t i = 0;
  char buf[64];
  while (i < s.size()) {
    char c = s[i];
    if (is_ascii_alpha(c)) {
      size_t st = i;
      int n = 0;
      while (i < s.size() && is_ascii_alpha(s[i])) {
        if (n < 64) buf[n++] = (char)(s[i] | 0x20);
        ++i;
      }
      out.push_back({hash_bytes(std::string_view(buf, n)), (uint32_t)(i - st), brk, st, i});
      brk = false;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\'' || c == '-') { ++i; continue; }
    if ((unsigned char)c >= 0x80) { utf8_next(s, i); brk = true; continue; }
    brk = true;  // digits, punctuation
    ++i;
  }
}

void tokens_zh(const ZhDict& d, std::string_view s, std::vector<Tok>& out) {
  tokens_zh(d, [&](uint64_t h) { return DictHit{d.freq.get(h), d.prefix.get(h) != 0}; }, [](uint64_t) {}, s, out);
}

}  // namespace veritas::spun
