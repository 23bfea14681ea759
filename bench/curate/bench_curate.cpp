// bench_curate MODE FILE: single-thread throughput over the documents of a JSONL file.
//   read     LineReader over the file: read (and decompress), split at newlines
//   parse    nlohmann JSON parse of each line
//   simdjson simdjson DOM parse of each line (the ceiling of the input stage's parser)
//   input    the input stage: parse_document (hygiene checks, fields) of each line
//   langid   language identification of each document's text
//   minhash  MinHash signature (14 x 8) of each document's text, language identified first
//   normalize  NFKC/HTML/whitespace normalization of each text
// Prints MB/s of input (text bytes for minhash/normalize, line bytes for parse) per CPU
// second of this single-threaded process, so a busy machine does not lower the figure.
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <simdjson.h>

#include "veritas/data/dedup.hpp"
#include "veritas/data/hygiene.hpp"
#include "veritas/data/jsonl.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/data/langid.hpp"
#include "veritas/data/normalize.hpp"
#include <ctime>

using namespace veritas;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: bench_curate read|parse|simdjson|input|langid|minhash|normalize FILE.jsonl\n");
    return 2;
  }
  std::string mode = argv[1];
  auto cpu = [] {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  };
  if (mode == "read") {
    // Named by the compression the reader detects (magic bytes), as it does.
    const char* label = "read";
    if (std::FILE* f = std::fopen(argv[2], "rb")) {
      unsigned char m[4] = {};
      size_t got = std::fread(m, 1, 4, f);
      std::fclose(f);
      if (got >= 2 && m[0] == 0x1f && m[1] == 0x8b) label = "read_gzip";
      if (got == 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) label = "read_zstd";
    }
    double t0 = cpu(), bytes = 0;
    LineReader r(argv[2], size_t(4) << 20);
    std::string line;
    while (r.next(line)) bytes += line.size() + 1;
    double s = cpu() - t0;
    std::printf("%s: %.1f MB in %.2f CPU s = %.1f MB/s per core (single thread)\n", label, bytes / 1e6, s, bytes / 1e6 / s);
    return 0;
  }
  bool whole_lines = mode == "parse" || mode == "simdjson" || mode == "input";
  std::vector<std::string> lines, texts;
  LineReader r(argv[2], size_t(4) << 20);
  std::string line;
  while (r.next(line)) {
    if (whole_lines) lines.push_back(line);
    else {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("text") && j["text"].is_string()) texts.push_back(j["text"]);
    }
  }
  double bytes = 0;
  double t0 = cpu();
  size_t sink = 0;
  if (mode == "parse") {
    for (auto& l : lines) {
      bytes += l.size() + 1;
      auto j = nlohmann::json::parse(l, nullptr, false);
      sink += j.size();
    }
  } else if (mode == "simdjson") {
    simdjson::dom::parser parser;
    for (auto& l : lines) {
      bytes += l.size() + 1;
      simdjson::dom::element e;
      if (parser.parse(l).get(e) == simdjson::SUCCESS) sink += e.is_object();
    }
  } else if (mode == "input") {
    HygieneConfig cfg;
    for (auto& l : lines) {
      bytes += l.size() + 1;
      Document d;
      sink += parse_document(l, false, cfg, d).keep;
    }
  } else if (mode == "minhash") {
    std::vector<Lang> langs;
    for (auto& x : texts) langs.push_back(identify_language(x).lang);
    DedupConfig cfg;
    MinHasher mh(cfg);
    t0 = cpu();
    for (size_t i = 0; i < texts.size(); ++i) {
      bytes += texts[i].size();
      sink += mh.signature(texts[i], langs[i]).bands.size();
    }
  } else if (mode == "langid") {
    for (auto& x : texts) {
      bytes += x.size();
      sink += (size_t)identify_language(x).lang;
    }
  } else if (mode == "normalize") {
    for (auto& x : texts) {
      bytes += x.size();
      sink += normalize_text(x).size();
    }
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  double s = cpu() - t0;
  std::printf("%s: %.1f MB in %.2f CPU s = %.1f MB/s per core (single thread) [%zu]\n", mode.c_str(), bytes / 1e6, s, bytes / 1e6 / s, sink % 7);
  return 0;
}
