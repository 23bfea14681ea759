#include "veritas/data/text_sources.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace veritas::sources {

namespace fs = std::filesystem;

std::string run_command(const std::string& cmd, const std::string& package) {
  std::FILE* p = ::popen(cmd.c_str(), "r");
  check(p != nullptr, "cannot run '" + cmd + "' (package " + package + ")");
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  check(rc == 0 && !out.empty(), "'" + cmd + "' failed (is Debian package " + package + " installed?)");
  return out;
}

std::string strip_ansi(std::string_view s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    // Up to the first letter: the files hold broken sequences such as "ESC[;ESC[34;1m".
    if (s[i] == 0x1B && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) ++i;
      continue;
    }
    o += s[i];
  }
  return o;
}

std::vector<std::string> fortune_records(std::string_view text) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p < text.size()) {
    size_t e = text.find("\n%\n", p);
    if (e == std::string_view::npos) e = text.size();
    out.emplace_back(text.substr(p, e - p));
    p = e + 3;
  }
  return out;
}

std::string kjv_text(const std::string& bible, const std::string& options) {
  return run_command(bible + (options.empty() ? "" : " " + options) + " 'Gen1:1-Rev22:21' 2>/dev/null", "bible-kjv");
}

std::vector<std::string> kjv_verses() {
  std::string text = kjv_text();
  std::vector<std::string> verses;
  size_t pos = 0;
  bool prev_blank = true;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) { prev_blank = true; continue; }
    bool verse_start = line.size() > 3 && line[0] == ' ' && line.find_first_not_of(' ') != std::string_view::npos &&
                       std::isdigit((unsigned char)line[line.find_first_not_of(' ')]);
    if (verse_start) {
      size_t a = line.find_first_not_of(' ');
      size_t b = line.find(' ', a);
      verses.emplace_back(b == std::string_view::npos ? "" : line.substr(b + 1));
    } else if (!prev_blank && !verses.empty()) {
      verses.back() += ' ';
      verses.back() += line;
    }  // else a "Book N" header
    prev_blank = false;
  }
  return verses;
}

std::vector<std::string> wordnet_glosses() {
  std::vector<std::string> glosses;
  for (const char* pos : {"noun", "verb", "adj", "adv"}) {
    std::string text = read_file(std::string(kWordnetDir) + "/data." + pos);
    for_each_line(text, [&](std::string_view line) {
      if (line.size() < 2 || line[0] == ' ') return;  // license header
      size_t bar = line.find(" | ");
      if (bar == std::string_view::npos) return;
      std::string g(line.substr(bar + 3));
      while (!g.empty() && g.back() == ' ') g.pop_back();
      // The definition and its quoted examples, as sentences.
      for (char& c : g) if (c == '"') c = ' ';
      glosses.push_back(g + ".");
    });
  }
  return glosses;
}

std::vector<std::string> fortunes_zh() {
  std::string text = read_file(kFortunesZh);
  std::vector<std::string> entries;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) entries.push_back(cur);
    cur.clear();
  };
  for_each_line(text, [&](std::string_view line) {
    if (line == "%") { flush(); return; }
    // Strip ANSI colour codes and the attribution line.
    std::string clean = strip_ansi(line);
    size_t a = clean.find_first_not_of(' ');
    if (a == std::string::npos) return;
    if (clean.compare(a, 3, "-- ") == 0) return;
    cur += clean.substr(a);
    cur += '\n';
  });
  flush();
  return entries;
}

// ---- Modern prose: HTML documentation, man pages, GCIDE, English fortunes.
// Block-level HTML tags end a paragraph; <pre>, <script>, <style> and <head> are dropped
// with their content; other tags are removed; common entities decoded.
void append_entity(std::string_view s, size_t& i, std::string& out) {
  size_t semi = s.find(';', i);
  if (semi == std::string_view::npos || semi - i > 10) { out += '&'; ++i; return; }
  std::string_view e = s.substr(i + 1, semi - i - 1);
  uint32_t cp = 0;
  if (e == "amp") cp = '&';
  else if (e == "lt") cp = '<';
  else if (e == "gt") cp = '>';
  else if (e == "quot") cp = '"';
  else if (e == "apos") cp = '\'';
  else if (e == "nbsp") cp = ' ';
  else if (e.size() > 1 && e[0] == '#')
    cp = (uint32_t)(e[1] == 'x' || e[1] == 'X' ? std::strtoul(std::string(e.substr(2)).c_str(), nullptr, 16)
                                                : std::strtoul(std::string(e.substr(1)).c_str(), nullptr, 10));
  if (cp == 0 || cp > 0x10FFFF) { out += '&'; ++i; return; }
  if (cp < 0x80) out += (char)cp;
  else if (cp < 0x800) { out += (char)(0xC0 | cp >> 6); out += (char)(0x80 | (cp & 0x3F)); }
  else if (cp < 0x10000) { out += (char)(0xE0 | cp >> 12); out += (char)(0x80 | (cp >> 6 & 0x3F)); out += (char)(0x80 | (cp & 0x3F)); }
  else { out += (char)(0xF0 | cp >> 18); out += (char)(0x80 | (cp >> 12 & 0x3F)); out += (char)(0x80 | (cp >> 6 & 0x3F)); out += (char)(0x80 | (cp & 0x3F)); }
  i = semi + 1;
}

void html_blocks(std::string_view s, std::vector<std::string>& out) {
  static const char* const blocks[] = {"p", "div", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd",
                                       "br", "tr", "title", "table", "ul", "ol", "dl", "blockquote", "body"};
  static const char* const skip[] = {"pre", "script", "style", "head"};
  std::string cur;
  auto flush = [&] {
    std::string t;
    bool sp = false;
    for (char c : cur) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { sp = !t.empty(); continue; }
      if (sp) t += ' ';
      sp = false;
      t += c;
    }
    if (!t.empty()) out.push_back(std::move(t));
    cur.clear();
  };
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '&') { append_entity(s, i, cur); continue; }
    if (c != '<') { cur += c; ++i; continue; }
    size_t end = s.find('>', i);
    if (end == std::string_view::npos) break;
    size_t a = i + 1 + (i + 1 < s.size() && s[i + 1] == '/');
    size_t b = a;
    while (b < end && std::isalnum((unsigned char)s[b])) ++b;
    std::string name(s.substr(a, b - a));
    for (char& ch : name) ch = (char)std::tolower((unsigned char)ch);
    bool closing = s[i + 1] == '/';
    i = end + 1;
    if (!closing && std::find(std::begin(skip), std::end(skip), name) != std::end(skip)) {
      flush();
      std::string close = "</" + name;
      size_t e = i;
      while (true) {  // case-insensitive search for the closing tag
        e = s.find("</", e);
        if (e == std::string_view::npos) { i = s.size(); break; }
        std::string t(s.substr(e, close.size()));
        for (char& ch : t) ch = (char)std::tolower((unsigned char)ch);
        if (t == close) { size_t g = s.find('>', e); i = g == std::string_view::npos ? s.size() : g + 1; break; }
        e += 2;
      }
      continue;
    }
    if (std::find(std::begin(blocks), std::end(blocks), name) != std::end(blocks)) flush();
  }
  flush();
}

std::vector<std::string> list_files(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> v;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string p = it->path().string();
    if (p.size() >= suffix.size() && p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) v.push_back(p);
  }
  std::sort(v.begin(), v.end());  // a fixed order: the splits must not depend on the file system
  return v;
}

std::vector<std::string> html_source(const std::string& dir, const std::string& suffix, const std::string& package) {
  auto files = list_files(dir, suffix);
  check(!files.empty(), "spun: no " + suffix + " files under " + dir + " (is Debian package " + package + " installed?)");
  std::vector<std::string> out;
  for (auto& f : files) html_blocks(read_file(f), out);
  return out;
}

// Man pages (groff): request lines (.XX) end a paragraph and are dropped; font and
// character escapes are removed.
std::vector<std::string> man_source(const std::string& glob, const std::string& package) {
  std::string text = run_command("zcat " + glob + " 2>/dev/null", package);
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(cur);
    cur.clear();
  };
  for_each_line(text, [&](std::string_view line) {
    if (line.empty() || line[0] == '.' || line[0] == '\'') { flush(); return; }
    std::string t;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] != '\\') { t += line[i]; continue; }
      if (++i >= line.size()) break;
      char e = line[i];
      if (e == '-') t += '-';
      else if (e == 'e' || e == '\\') t += '\\';
      else if (e == ' ') t += ' ';
      else if (e == '"') break;  // comment
      else if (e == 'f' || e == '*') {
        if (i + 1 < line.size() && line[i + 1] == '(') i += 3;
        else if (i + 1 < line.size() && line[i + 1] == '[') { size_t c = line.find(']', i); i = c == std::string_view::npos ? line.size() : c; }
        else ++i;
      } else if (e == '(') i += 2;
    }
    if (!cur.empty()) cur += ' ';
    cur += t;
  });
  flush();
  return out;
}

// GCIDE (dict-gcide): the dictd text; entry bodies are indented, paragraphs separated
// by blank lines; bracketed etymologies and source tags ([1913 Webster]) are removed.
std::vector<std::string> gcide_source() {
  std::string text = run_command(std::string("zcat ") + kGcide, "dict-gcide");
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    std::string t;
    int depth = 0;
    for (char c : cur) {
      if (c == '[') { ++depth; continue; }
      if (c == ']') { depth = std::max(0, depth - 1); continue; }
      if (!depth) t += c;
    }
    if (t.size() > 20) out.push_back(std::move(t));
    cur.clear();
  };
  for_each_line(text, [&](std::string_view line) {
    if (line.size() < 3 || line[0] != ' ') { flush(); return; }  // blank or a headword line
    size_t a = line.find_first_not_of(' ');
    if (a == std::string_view::npos) { flush(); return; }
    if (!cur.empty()) cur += ' ';
    cur += line.substr(a);
  });
  flush();
  return out;
}

// fortune-mod files: entries separated by "%" lines.
std::vector<std::string> fortune_entries(const std::string& text) {
  std::vector<std::string> entries;
  std::string cur;
  for_each_line(text, [&](std::string_view line) {
    if (line == "%") { if (!cur.empty()) entries.push_back(cur); cur.clear(); return; }
    size_t a = line.find_first_not_of(" \t");
    if (a == std::string_view::npos) return;
    if (!cur.empty()) cur += ' ';
    cur += line.substr(a);
  });
  if (!cur.empty()) entries.push_back(cur);
  return entries;
}
std::vector<std::string> fortunes_en() {
  static const char* const skip[] = {"chinese", "song100", "tang300", "art", "ascii-art"};
  std::vector<std::string> out;
  std::error_code ec;
  std::vector<std::string> files;
  for (auto& e : fs::directory_iterator(kFortunesDir, ec)) {
    std::string name = e.path().filename().string();
    if (name.find('.') != std::string::npos || !e.is_regular_file(ec)) continue;
    if (std::find(std::begin(skip), std::end(skip), name) != std::end(skip)) continue;
    if (!fs::exists(e.path().string() + ".dat", ec)) continue;
    files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  check(files.size() >= 10, std::string("spun: no English fortunes under ") + kFortunesDir + " (is Debian package fortunes installed?)");
  for (auto& f : files)
    for (auto& e : fortune_entries(read_file(f))) out.push_back(std::move(e));
  return out;
}

}  // namespace veritas::sources
