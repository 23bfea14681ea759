#include "veritas/verify/answer.hpp"

#include <cctype>
#include <cstdlib>
#include <vector>

#include "veritas/util/text.hpp"

namespace veritas {

namespace {

// Matches a label ("Answer", "答案", ...) followed by ':' or '：' at the start of a line,
// ASCII case-insensitively; returns the rest of the line or nullopt.
std::optional<std::string_view> after_label(std::string_view line, std::string_view label) {
  if (line.size() < label.size()) return std::nullopt;
  for (size_t i = 0; i < label.size(); i++)
    if (std::tolower((unsigned char)line[i]) != std::tolower((unsigned char)label[i])) return std::nullopt;
  std::string_view rest = line.substr(label.size());
  while (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  if (!rest.empty() && rest[0] == ':') return rest.substr(1);
  if (rest.substr(0, 3) == "：") return rest.substr(3);
  return std::nullopt;
}

std::optional<std::string_view> answer_value(std::string_view line) {
  for (auto label : {"Answer", "Final answer", "答案", "最终答案"})
    if (auto r = after_label(line, label)) return r;
  return std::nullopt;
}

std::optional<std::string_view> confidence_value(std::string_view line) {
  for (auto label : {"Confidence", "置信度"})
    if (auto r = after_label(line, label)) return r;
  return std::nullopt;
}

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
        out.push_back((char)std::tolower((unsigned char)a));
        i += 3;
        continue;
      }
    }
    if (std::isspace(c)) { space = true; i++; continue; }
    if (s.substr(i, 3) == "\u3000") { space = true; i += 3; continue; }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c < 0x80 ? (char)std::tolower(c) : (char)c);
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
  // Split into lines, dropping trailing blank ones.
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); i++) {
    if (i == text.size() || text[i] == '\n') {
      std::string_view l = text.substr(start, i - start);
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      lines.push_back(l);
      start = i + 1;
    }
  }
  while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
  if (lines.empty()) {
    r.error = "empty answer";
    return r;
  }
  std::string_view last = trim(lines.back());
  if (auto c = confidence_value(last)) {
    std::string cs(trim(*c));
    bool pct = !cs.empty() && cs.back() == '%';
    if (pct) cs.pop_back();
    char* end = nullptr;
    double v = std::strtod(cs.c_str(), &end);
    if (cs.empty() || end != cs.c_str() + cs.size()) {
      r.error = "unreadable Confidence value '" + std::string(trim(*c)) + "'";
      return r;
    }
    if (pct) v /= 100;
    if (!(v >= 0 && v <= 1)) {
      r.error = "Confidence must lie in [0, 1], got '" + std::string(trim(*c)) + "'";
      return r;
    }
    r.confidence = v;
    lines.pop_back();
    while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
    if (lines.empty()) {
      r.error = "Confidence line without an Answer line";
      return r;
    }
    last = trim(lines.back());
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
