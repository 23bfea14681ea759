#pragma once
// The data card of a curation run: counts in/out per stage and per reason, languages,
// examples of each reason, bytes, throughput per stage and dedup cluster sizes.
// Stats from several tasks add up (merge), and the card checks in = kept + rejected.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace veritas {

struct StageStats {
  uint64_t docs_in = 0, docs_out = 0, bytes_in = 0;
  double cpu_seconds = 0;  // summed over threads
};

struct CurationStats {
  std::vector<std::string> stages;  // pipeline order
  std::map<std::string, StageStats> stage;
  std::map<std::string, uint64_t> reasons;
  std::map<std::string, std::vector<nlohmann::json>> examples;  // first few per reason
  std::map<std::string, uint64_t> lang_in, lang_kept;
  std::map<uint64_t, uint64_t> clusters;  // cluster size -> count (size >= 2)
  uint64_t lines_in = 0, kept = 0, rejected = 0, bytes_in = 0, bytes_kept = 0;
  uint64_t dedup_docs = 0, dedup_state_bytes = 0;
  uint64_t peak_rss_bytes = 0;  // VmHWM of the process that wrote the card
  double wall_seconds = 0;
  int threads = 1;
  std::vector<std::string> inputs;
  std::vector<std::string> notes;  // what ran and what could not (e.g. which spun evidence)
  static constexpr int kExamples = 3;

  void add_example(const std::string& reason, nlohmann::json ex);
  void reject(const std::string& stage_name, const std::string& reason);
  bool balanced() const { return lines_in == kept + rejected; }
  void merge(const CurationStats& o);
  nlohmann::json to_json() const;
  static CurationStats from_json(const nlohmann::json& j);
  std::string to_markdown() const;
};

}  // namespace veritas
