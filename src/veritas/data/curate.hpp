#pragma once
// The curation pipeline (veritas curate): reads JSONL documents, runs the stages in the
// order of docs/curation.md, writes kept.jsonl, rejected.jsonl and the data card.
// Streaming in batches: the parallel stages run over a batch with the thread pool and
// the batch is written in input order, so memory holds one batch plus the dedup state.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/data/card.hpp"
#include "veritas/data/document.hpp"

namespace veritas {

// A content filter after dedup (quality, spam, spun, PII, classifier): named stage and
// a function that may add scores, rewrite the text, or drop the document.
struct FilterStage {
  std::string name;
  std::function<Decision(Document&)> run;
};
// The content filters configured in cfg (sections [quality] [spam] [spun] [pii]
// [classifier]), in pipeline order.
std::vector<FilterStage> content_filters(const nlohmann::json& cfg);

struct CurateOptions {
  std::vector<std::string> inputs;
  std::string out_dir;
  nlohmann::json config = nlohmann::json::object();
  std::string config_dir;            // relative paths in the config resolve here
  int task = 0, tasks = 0;           // tasks > 0: scale-out task `task` of `tasks`
  std::vector<FilterStage> extra_filters;  // tests: appended after the configured filters
  std::vector<FilterStage> after_spun;     // inserted right after the spun stage (curate_lm/: a model's evidence)
  std::vector<std::string> notes;          // said in the data card (what ran, what could not)
  bool no_content_filters = false;         // tests: core stages only
};

struct CurateResult {
  CurationStats stats;
  std::string dir;       // where the outputs are
  bool skipped = false;  // task already complete (relaunch)
};

CurateResult run_curate(const CurateOptions& opt);

// Throws Error naming the first section or setting curation does not know (a typo
// would otherwise leave the default in force without a word).
void check_curation_config_keys(const nlohmann::json& cfg);

// Lines that could not be read as documents: rejected at the input stage for any reason
// but a blank line (malformed JSON, invalid UTF-8, over-long, missing or mistyped fields).
uint64_t unreadable_lines(const CurationStats& s);
// The share of unreadable lines above which `veritas curate` warns.
constexpr double kUnreadableWarnShare = 0.01;

// veritas curate dedup: merges the task outputs under out_dir (task-0 .. task-N-1) into
// out_dir/kept.jsonl, rejected.jsonl, card.* and dedup-drops.jsonl; equal to a
// single-task run over the same inputs.
CurateResult merge_curate_tasks(const std::string& out_dir, int tasks);

// Order key of a line: input file index and line number.
inline uint64_t order_key(uint32_t file_idx, int64_t line) { return ((uint64_t)file_idx << 40) | (uint64_t)line; }

}  // namespace veritas
