#include "veritas/data/card.hpp"

#include <algorithm>
#include <cstdio>

#include "veritas/util/text.hpp"

namespace veritas {

void CurationStats::add_example(const std::string& reason, nlohmann::json ex) {
  auto& v = examples[reason];
  if ((int)v.size() < kExamples) v.push_back(std::move(ex));
}

void CurationStats::reject(const std::string& stage_name, const std::string& reason) {
  ++rejected;
  ++reasons[reason];
  (void)stage_name;
}

void CurationStats::merge(const CurationStats& o) {
  if (stages.empty()) stages = o.stages;
  for (auto& [k, s] : o.stage) {
    auto& d = stage[k];
    d.docs_in += s.docs_in;
    d.docs_out += s.docs_out;
    d.bytes_in += s.bytes_in;
    d.cpu_seconds += s.cpu_seconds;
  }
  for (auto& [k, v] : o.reasons) reasons[k] += v;
  for (auto& [k, v] : o.examples)
    for (auto& e : v) add_example(k, e);
  for (auto& [k, v] : o.lang_in) lang_in[k] += v;
  for (auto& [k, v] : o.lang_kept) lang_kept[k] += v;
  for (auto& [k, v] : o.clusters) clusters[k] += v;
  lines_in += o.lines_in;
  kept += o.kept;
  rejected += o.rejected;
  bytes_in += o.bytes_in;
  bytes_kept += o.bytes_kept;
  dedup_docs += o.dedup_docs;
  dedup_state_bytes = std::max(dedup_state_bytes, o.dedup_state_bytes);
  peak_rss_bytes = std::max(peak_rss_bytes, o.peak_rss_bytes);
  wall_seconds += o.wall_seconds;
  threads = std::max(threads, o.threads);
  inputs.insert(inputs.end(), o.inputs.begin(), o.inputs.end());
  for (auto& n : o.notes)  // scale-out tasks say the same things once
    if (std::find(notes.begin(), notes.end(), n) == notes.end()) notes.push_back(n);
}

nlohmann::json CurationStats::to_json() const {
  nlohmann::json j;
  j["documents"] = {{"in", lines_in}, {"kept", kept}, {"rejected", rejected}, {"balanced", balanced()}};
  j["bytes"] = {{"in", bytes_in}, {"kept", bytes_kept}};
  j["wall_seconds"] = wall_seconds;
  j["peak_rss_bytes"] = peak_rss_bytes;
  j["threads"] = threads;
  j["inputs"] = inputs;
  j["notes"] = notes;
  nlohmann::json st = nlohmann::json::array();
  for (auto& name : stages) {
    auto it = stage.find(name);
    StageStats s = it == stage.end() ? StageStats{} : it->second;
    double mb = s.bytes_in / 1e6;
    st.push_back({{"stage", name}, {"in", s.docs_in}, {"out", s.docs_out}, {"dropped", s.docs_in - s.docs_out},
                  {"bytes_in", s.bytes_in}, {"cpu_seconds", s.cpu_seconds},
                  {"mb_per_s_per_core", s.cpu_seconds > 0 ? mb / s.cpu_seconds : 0.0}});
  }
  j["stages"] = st;
  j["reasons"] = reasons;
  nlohmann::json ex = nlohmann::json::object();
  for (auto& [k, v] : examples) ex[k] = v;
  j["examples"] = ex;
  j["languages"] = {{"in", lang_in}, {"kept", lang_kept}};
  nlohmann::json cl = nlohmann::json::object();
  for (auto& [k, v] : clusters) cl[std::to_string(k)] = v;
  j["dedup"] = {{"documents", dedup_docs}, {"state_bytes", dedup_state_bytes},
                {"state_bytes_per_doc", dedup_docs ? (double)dedup_state_bytes / dedup_docs : 0.0},
                {"cluster_sizes", cl}};
  return j;
}

CurationStats CurationStats::from_json(const nlohmann::json& j) {
  CurationStats s;
  s.lines_in = j.at("documents").at("in");
  s.kept = j.at("documents").at("kept");
  s.rejected = j.at("documents").at("rejected");
  s.bytes_in = j.at("bytes").at("in");
  s.bytes_kept = j.at("bytes").at("kept");
  s.wall_seconds = j.value("wall_seconds", 0.0);
  s.peak_rss_bytes = j.value("peak_rss_bytes", (uint64_t)0);
  s.threads = j.value("threads", 1);
  s.inputs = j.value("inputs", std::vector<std::string>{});
  s.notes = j.value("notes", std::vector<std::string>{});
  for (auto& st : j.at("stages")) {
    std::string name = st.at("stage");
    s.stages.push_back(name);
    auto& d = s.stage[name];
    d.docs_in = st.at("in");
    d.docs_out = st.at("out");
    d.bytes_in = st.at("bytes_in");
    d.cpu_seconds = st.at("cpu_seconds");
  }
  s.reasons = j.at("reasons").get<std::map<std::string, uint64_t>>();
  for (auto& [k, v] : j.at("examples").items())
    for (auto& e : v) s.add_example(k, e);
  s.lang_in = j.at("languages").at("in").get<std::map<std::string, uint64_t>>();
  s.lang_kept = j.at("languages").at("kept").get<std::map<std::string, uint64_t>>();
  s.dedup_docs = j.at("dedup").at("documents");
  s.dedup_state_bytes = j.at("dedup").at("state_bytes");
  for (auto& [k, v] : j.at("dedup").at("cluster_sizes").items()) s.clusters[std::stoull(k)] = v;
  return s;
}

namespace {
std::string md_escape(std::string s) {
  std::string o;
  for (char c : s) {
    if (c == '|') o += "\\|";
    else if (c == '\n') o += ' ';
    else o += c;
  }
  return o;
}
std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
}  // namespace

std::string CurationStats::to_markdown() const {
  std::string m = "# Data card\n\n";
  m += "Inputs: " + std::to_string(inputs.size()) + " file(s). Threads: " + std::to_string(threads) +
       ". Wall time: " + fmt("%.2f", wall_seconds) + " s. Peak resident memory: " + human_bytes((double)peak_rss_bytes) + ".\n\n";
  m += "| documents in | kept | rejected | kept + rejected = in |\n| ---: | ---: | ---: | --- |\n";
  m += "| " + std::to_string(lines_in) + " | " + std::to_string(kept) + " | " + std::to_string(rejected) + " | " +
       (balanced() ? "yes" : "**NO: documents lost**") + " |\n\n";
  m += "Bytes in: " + human_bytes((double)bytes_in) + "; bytes kept: " + human_bytes((double)bytes_kept) + ".\n\n";
  for (auto& n : notes) m += "Note: " + n + "\n\n";
  m += "## Stages\n\nThroughput is text bytes entering the stage per CPU second (MB/s per core).\n\n";
  m += "| stage | in | out | dropped | MB in | CPU s | MB/s per core |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (auto& name : stages) {
    auto it = stage.find(name);
    StageStats s = it == stage.end() ? StageStats{} : it->second;
    m += "| " + name + " | " + std::to_string(s.docs_in) + " | " + std::to_string(s.docs_out) + " | " +
         std::to_string(s.docs_in - s.docs_out) + " | " + fmt("%.2f", s.bytes_in / 1e6) + " | " +
         fmt("%.3f", s.cpu_seconds) + " | " + (s.cpu_seconds > 0 ? fmt("%.1f", s.bytes_in / 1e6 / s.cpu_seconds) : "-") +
         " |\n";
  }
  m += "\n## Reasons\n\n| reason | documents |\n| --- | ---: |\n";
  for (auto& [k, v] : reasons) m += "| `" + k + "` | " + std::to_string(v) + " |\n";
  m += "\n## Languages\n\n| language | identified | kept |\n| --- | ---: | ---: |\n";
  for (auto& [k, v] : lang_in) {
    auto it = lang_kept.find(k);
    m += "| " + k + " | " + std::to_string(v) + " | " + std::to_string(it == lang_kept.end() ? 0 : it->second) + " |\n";
  }
  m += "\n## Duplicate clusters\n\nDocuments through dedup: " + std::to_string(dedup_docs) +
       "; dedup state: " + human_bytes((double)dedup_state_bytes) +
       (dedup_docs ? " (" + fmt("%.0f", (double)dedup_state_bytes / dedup_docs) + " bytes per document)" : "") + ".\n\n";
  if (clusters.empty()) m += "No duplicate clusters.\n";
  else {
    m += "| cluster size | clusters |\n| ---: | ---: |\n";
    for (auto& [k, v] : clusters) m += "| " + std::to_string(k) + " | " + std::to_string(v) + " |\n";
  }
  m += "\n## Examples\n\n";
  for (auto& [k, v] : examples) {
    m += "### `" + k + "`\n\n";
    for (auto& e : v) {
      std::string line = "- ";
      if (e.contains("id") && e["id"].is_string()) line += "`" + md_escape(e["id"].get<std::string>()) + "` ";
      if (e.contains("file")) line += "(" + md_escape(e["file"].get<std::string>()) + ":" + std::to_string(e["line"].get<int64_t>()) + ") ";
      if (e.contains("detail")) line += md_escape(e["detail"].get<std::string>());
      if (e.contains("snippet")) line += " — \"" + md_escape(e["snippet"].get<std::string>()) + "\"";
      m += line + "\n";
    }
    m += "\n";
  }
  return m;
}

}  // namespace veritas
