#include "veritas/verify/answer.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <vector>

#include "veritas/util/text.hpp"

namespace veritas {

namespace {

// Matches a label ("Answer", "答案", ...) followed by ':' or '：' at the start of a line,
// ASCII case-insensitively; returns the rest of the line or nullopt.
// std::tolower and std::isspace in the C locale, inline.
char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; }
bool ascii_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::optional<std::string_view> after_label(std::string_view line, std::string_view label) {
  if (line.size() < label.size()) return std::nullopt;
  for (size_t i = 0; i < label.size(); i++)
    if (ascii_lower(line[i]) != ascii_lower(label[i])) return std::nullopt;
  std::string_view rest = line.substr(label.size());
  while (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  if (!rest.empty() && rest[0] == ':') return rest.substr(1);
  if (rest.substr(0, 3) == "：") return rest.substr(3);
  return std::nullopt;
}

using namespace std::string_view_literals;

std::optional<std::string_view> answer_value(std::string_view line) {
  for (auto label : {"Answer"sv, "Final answer"sv, "答案"sv, "最终答案"sv})
    if (auto r = after_label(line, label)) return r;
  return std::nullopt;
}

std::optional<std::string_view> confidence_value(std::string_view line) {
  for (auto label : {"Confidence"sv, "置信度"sv})
    if (auto r = after_label(line, label)) return r;
  return std::nullopt;
}

// Reads the whole of s as a number, as std::strtod reads it: from_chars for the plain
// forms (the same value: both round correctly), strtod for the rest ("+0.5", "0x1p-1").
bool read_double(std::string_view s, double* v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  if (ec == std::errc() && p == s.data() + s.size()) return true;
  std::string z(s);
  char* end = nullptr;
  *v = std::strtod(z.c_str(), &end);
  return end == z.c_str() + z.size();
}

// Walks the lines of a text back from the last one, without splitting it up front.
struct LinesBack {
  std::string_view text;
  size_t end = text.size();  // where the next line to visit ends
  bool done = false;
  // The previous line that is not blank, trimmed; nullopt when none is left.
  std::optional<std::string_view> previous() {
    while (!done) {
      size_t nl = end == 0 ? std::string_view::npos : text.rfind('\n', end - 1);
      size_t start = nl == std::string_view::npos ? 0 : nl + 1;
      std::string_view line = trim(text.substr(start, end - start));
      if (nl == std::string_view::npos) done = true;
      else end = nl;
      if (!line.empty()) return line;
    }
    return std::nullopt;
  }
};

const std::vector<std::string>& dont_know_phrases() {
  static const std::vector<std::string> p = {
      "i don't know", "i do not know", "i dont know", "don't know", "unknown", "not known",
      "i'm not sure", "i am not sure", "not sure", "no idea", "nobody knows", "no one knows",
      "it is not known", "this is not known", "不知道", "我不知道", "不清楚", "未知", "尚不清楚", "没人知道"};
  return p;
}
const std::vector<std::string>& cannot_phrases() {
  static const std::vector<std::string> p = {
      "cannot be determined", "can't be determined", "cannot be answered", "can't be answered",
      "cannot be known", "not determinable", "undetermined", "indeterminate", "undefined",
      "no solution", "no solutions", "has no solution", "there is no solution", "no answer",
      "there is no answer", "does not exist", "doesn't exist", "no such element", "impossible",
      "not possible", "unanswerable", "the question is invalid", "invalid question",
      "false premise", "the premise is false", "not enough information", "insufficient information",
      "无法确定", "无法回答", "无解", "没有解", "不存在", "无意义", "没有答案", "无法计算", "前提错误",
      "条件不足", "信息不足", "未定义"};
  return p;
}

}  // namespace

std::string normalize_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());  // never longer than the input
  bool space = false;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = (unsigned char)s[i];
    // Full-width ASCII forms U+FF01..U+FF5E -> ASCII (UTF-8 EF BC 81 .. EF BD 9E).
    if (c == 0xEF && i + 2 < s.size()) {
      unsigned char b1 = (unsigned char)s[i + 1], b2 = (unsigned char)s[i + 2];
      unsigned cp = ((c & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F);
      if (cp >= 0xFF01 && cp <= 0xFF5E) {
        char a = (char)(cp - 0xFF01 + 0x21);
        if (space && !out.empty()) out.push_back(' ');
        space = false;
        out.push_back(ascii_lower(a));
        i += 3;
        continue;
      }
    }
    if (ascii_space(c)) { space = true; i++; continue; }
    if (s.substr(i, 3) == "\u3000") { space = true; i += 3; continue; }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(ascii_lower((char)c));
    i++;
  }
  // Curly apostrophes count as straight ones ("don’t").
  for (size_t p; (p = out.find("\u2019")) != std::string::npos;) out.replace(p, 3, "'");
  return out;
}

ParsedAnswer parse_answer(std::string_view text) {
  ParsedAnswer r;
  if (!is_valid_utf8(text)) {
    r.error = "answer is not valid UTF-8";
    return r;
  }
  // Only the last lines count: blank ones at the end are skipped.
  LinesBack lines{text};
  auto line = lines.previous();
  if (!line) {
    r.error = "empty answer";
    return r;
  }
  std::string_view last = *line;
  if (auto c = confidence_value(last)) {
    std::string_view cs = trim(*c);
    bool pct = !cs.empty() && cs.back() == '%';
    if (pct) cs.remove_suffix(1);
    double v = 0;
    if (!read_double(cs, &v)) {
      r.error = "unreadable Confidence value '" + std::string(trim(*c)) + "'";
      return r;
    }
    if (pct) v /= 100;
    if (!(v >= 0 && v <= 1)) {
      r.error = "Confidence must lie in [0, 1], got '" + std::string(trim(*c)) + "'";
      return r;
    }
    r.confidence = v;
    line = lines.previous();
    if (!line) {
      r.error = "Confidence line without an Answer line";
      return r;
    }
    last = *line;
  }
  auto v = answer_value(last);
  if (!v) {
    r.error = "the final line is not 'Answer: ...'";
    return r;
  }
  std::string_view value = trim(*v);
  // Trailing sentence punctuation is not part of the value.
  for (;;) {
    if (!value.empty() && value.back() == '.') value.remove_suffix(1);
    else if (value.size() >= 3 && value.substr(value.size() - 3) == "。") value.remove_suffix(3);
    else break;
    value = trim(value);
  }
  // Markdown emphasis around the value ("**42**").
  while (value.size() >= 2 && value.front() == '*' && value.back() == '*') value = trim(value.substr(1, value.size() - 2));
  if (value.empty()) {
    r.error = "empty Answer line";
    return r;
  }
  r.value = std::string(value);
  // A value that starts with a digit or a sign is a number: no phrase starts that way, and
  // normalizing leaves that first character as it is.
  if (std::isdigit((unsigned char)value[0]) || value[0] == '-' || value[0] == '+') {
    r.kind = ParsedAnswer::Kind::Value;
    return r;
  }
  std::string norm = normalize_text(value);
  while (!norm.empty() && (norm.back() == '!' || norm.back() == '.')) norm.pop_back();
  // An abstention starts with a don't-know phrase ("I don't know.", "不知道。");
  // a claim of impossibility contains one of its phrases and no leading number.
  for (const auto& p : dont_know_phrases())
    if (norm.rfind(p, 0) == 0) { r.kind = ParsedAnswer::Kind::DontKnow; return r; }
  bool numeric = !norm.empty() && (std::isdigit((unsigned char)norm[0]) || norm[0] == '-' || norm[0] == '+');
  if (!numeric)
    for (const auto& p : cannot_phrases())
      if (norm.find(p) != std::string::npos) { r.kind = ParsedAnswer::Kind::CannotAnswer; return r; }
  r.kind = ParsedAnswer::Kind::Value;
  return r;
}

}  // namespace veritas
