#include "veritas/cli/default_corpus.hpp"

#include <string>

#include <nlohmann/json.hpp>

#include "veritas/data/text_sources.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace veritas::cli {

namespace {

void emit(AtomicFile& f, CorpusStats& st, const std::string& id, const std::string& text, const char* source,
          const char* lang, const std::string& title) {
  if (text.empty()) return;
  nlohmann::json j = {{"id", id}, {"text", text}, {"source", source}, {"visibility", "public"}, {"lang", lang}};
  if (!title.empty()) j["title"] = title;
  f.write(j.dump() + "\n");
  st.documents++;
  st.bytes += (long)text.size();
}

}  // namespace

CorpusStats build_default_corpus(const std::filesystem::path& out) {
  if (std::system("command -v bible >/dev/null 2>&1") != 0)
    throw Error("the default corpus needs the 'bible' command (Debian package bible-kjv): run scripts/setup");
  const std::string zh_dir = std::string(sources::kFortunesDir) + "/";
  if (!fs::exists(zh_dir + "tang300"))
    throw Error("the default corpus needs " + zh_dir + "tang300 (Debian package fortunes-zh): run scripts/setup");

  CorpusStats st;
  AtomicFile f(out);
  // The bible command prints "Book N" headings, then numbered verses; one document a chapter.
  std::string kjv = sources::kjv_text("bible", "-l100000");  // one verse a line
  std::string title, body;
  auto flush = [&] {
    while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
    std::string id = "kjv-" + title;  // "kjv-Genesis-1"
    for (char& c : id) c = c == ' ' ? '-' : c;
    emit(f, st, id, body, "bible-kjv", "en", title);
    body.clear();
  };
  sources::for_each_line(kjv, [&](std::string_view text) {
    std::string line(text);
    if (line.empty()) return;
    if (line[0] != ' ' && !(line[0] >= '0' && line[0] <= '9')) {  // a chapter heading
      flush();
      title = line;
      return;
    }
    size_t a = line.find_first_not_of(' ');
    size_t b = line.find(' ', a);  // drop the verse number
    if (a != std::string::npos && b != std::string::npos && line[a] >= '0' && line[a] <= '9')
      line = line.substr(b + 1);
    else if (a != std::string::npos)
      line = line.substr(a);
    body += line + "\n";
  });
  flush();

  for (const char* name : {"tang300", "song100"}) {
    std::string text = sources::strip_ansi(read_file(zh_dir + name));
    int k = 0;
    for (std::string& poem : sources::fortune_records(text)) {
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
