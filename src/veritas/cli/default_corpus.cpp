#include "veritas/cli/default_corpus.hpp"

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace veritas::cli {

namespace {

std::string run_capture(const std::string& cmd) {
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw Error("cannot run: " + cmd);
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  if (rc != 0) throw Error("command failed (" + std::to_string(rc) + "): " + cmd);
  return out;
}

void emit(AtomicFile& f, CorpusStats& st, const std::string& id, const std::string& text, const char* source,
          const char* lang, const std::string& title) {
  if (text.empty()) return;
  nlohmann::json j = {{"id", id}, {"text", text}, {"source", source}, {"visibility", "public"}, {"lang", lang}};
  if (!title.empty()) j["title"] = title;
  f.write(j.dump() + "\n");
  st.documents++;
  st.bytes += (long)text.size();
}

// Strips the ANSI colour escapes the fortune files carry.
std::string strip_ansi(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\033' && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) ++i;
      continue;
    }
    o += s[i];
  }
  return o;
}

}  // namespace

CorpusStats build_default_corpus(const std::filesystem::path& out) {
  if (std::system("command -v bible >/dev/null 2>&1") != 0)
    throw Error("the default corpus needs the 'bible' command (Debian package bible-kjv): run scripts/setup");
  const std::string zh_dir = "/usr/share/games/fortunes/";
  if (!fs::exists(zh_dir + "tang300"))
    throw Error("the default corpus needs " + zh_dir + "tang300 (Debian package fortunes-zh): run scripts/setup");

  CorpusStats st;
  AtomicFile f(out);
  // The bible command prints "Book N" headings, then numbered verses; one document a chapter.
  std::string kjv = run_capture("bible -l100000 'Gen1:1-Rev22:21'");  // one verse a line
  std::string title, body;
  size_t pos = 0;
  auto flush = [&] {
    while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
    std::string id = "kjv-" + title;  // "kjv-Genesis-1"
    for (char& c : id) c = c == ' ' ? '-' : c;
    emit(f, st, id, body, "bible-kjv", "en", title);
    body.clear();
  };
  while (pos < kjv.size()) {
    size_t nl = kjv.find('\n', pos);
    if (nl == std::string::npos) nl = kjv.size();
    std::string line = kjv.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    if (line[0] != ' ' && !(line[0] >= '0' && line[0] <= '9')) {  // a chapter heading
      flush();
      title = line;
      continue;
    }
    size_t a = line.find_first_not_of(' ');
    size_t b = line.find(' ', a);  // drop the verse number
    if (a != std::string::npos && b != std::string::npos && line[a] >= '0' && line[a] <= '9')
      line = line.substr(b + 1);
    else if (a != std::string::npos)
      line = line.substr(a);
    body += line + "\n";
  }
  flush();

  for (const char* name : {"tang300", "song100"}) {
    std::string text = strip_ansi(read_file(zh_dir + name));
    size_t p = 0;
    int k = 0;
    while (p < text.size()) {
      size_t e = text.find("\n%\n", p);
      if (e == std::string::npos) e = text.size();
      std::string poem = text.substr(p, e - p);
      p = e + 3;
      while (!poem.empty() && (poem.back() == '\n' || poem.back() == '%')) poem.pop_back();
      size_t nl = poem.find('\n');
      std::string t = nl == std::string::npos ? "" : poem.substr(0, nl);
      emit(f, st, std::string(name) + "-" + std::to_string(k++), poem, "fortunes-zh", "zh", t);
    }
  }
  f.commit();
  return st;
}

}  // namespace veritas::cli
