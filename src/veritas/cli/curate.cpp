// veritas curate: raw documents -> clean training text, with a reason for every drop.
// Subcommands: dedup (merge scale-out tasks), synth (labelled test corpus) and
// train-classifier (the optional learned quality score).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "veritas/cli/commands.hpp"
#include "veritas/cli/curate_classifier.hpp"
#include "veritas/curate_lm/spun_lm.hpp"
#include "veritas/data/curate.hpp"
#include "veritas/data/spun.hpp"
#include "veritas/data/synth.hpp"
#include "veritas/util/config.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

namespace {

struct CurateArgs {
  std::vector<std::string> inputs;
  std::string out, config;
  int task = -1, tasks = 0;
};

void print_summary(const CurateResult& r) {
  const auto& s = r.stats;
  std::printf("%s: %llu in, %llu kept, %llu rejected (in = kept + rejected: %s)\n", r.dir.c_str(),
              (unsigned long long)s.lines_in, (unsigned long long)s.kept, (unsigned long long)s.rejected,
              s.balanced() ? "yes" : "NO");
  for (auto& [reason, n] : s.reasons) std::printf("  %-28s %llu\n", reason.c_str(), (unsigned long long)n);
}

// A Slurm array job (sbatch --array=A-B): this task's index from A and the task count.
// False when not in an array job.
bool slurm_array_task(int& task, int& tasks) {
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (!id || !count) return false;
  const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
  auto num = [](const char* v, const char* name) {
    char* end = nullptr;
    const long x = std::strtol(v, &end, 10);
    check(end != v && *end == 0 && x >= 0 && x < (1 << 30), std::string("curate: ") + name + "=" + v +
                                                                 " is not a task number");
    return (int)x;
  };
  task = num(id, "SLURM_ARRAY_TASK_ID") - (min ? num(min, "SLURM_ARRAY_TASK_MIN") : 0);
  tasks = num(count, "SLURM_ARRAY_TASK_COUNT");
  check(task >= 0 && task < tasks, "curate: Slurm array task " + std::to_string(task) + " is outside 0.." +
                                       std::to_string(tasks - 1) + " (use a contiguous --array=0-" +
                                       std::to_string(tasks - 1) + ")");
  return true;
}

// Fails (after the card is written) when no line could be read as a document, and warns
// when more than kUnreadableWarnShare of them could not.
void check_readable(const CurateResult& r) {
  const auto& s = r.stats;
  const uint64_t bad = unreadable_lines(s), read = s.stage.count("input") ? s.stage.at("input").docs_out : 0;
  if (read == 0)
    throw Error("curate: no document could be read (" + std::to_string(s.lines_in) + " lines, " +
                std::to_string(bad) + " malformed; see " + r.dir + "/card.md)");
  if (bad > kUnreadableWarnShare * (double)s.lines_in)
    std::fprintf(stderr, "curate: warning: %llu of %llu lines (%.1f %%) could not be read; see %s/card.md\n",
                 (unsigned long long)bad, (unsigned long long)s.lines_in, 100.0 * bad / (double)s.lines_in,
                 r.dir.c_str());
}

}  // namespace

void register_curate(CLI::App& app) {
  auto* cmd = app.add_subcommand("curate", "curate raw JSONL documents into clean training text (see docs/curation.md)");
  auto a = std::make_shared<CurateArgs>();
  cmd->add_option("--input,-i", a->inputs, "input JSONL files (plain, .gz or .zst, detected by content)");
  cmd->add_option("-o,--out", a->out, "output folder: kept.jsonl, rejected.jsonl, card.md, card.json");
  cmd->add_option("--config,-c", a->config, "config file (.toml or .json); default: built-in defaults (configs/curate.toml documents them)");
  cmd->add_option("--task", a->task, "scale-out: this task's index (reads inputs task, task+tasks, ...)");
  cmd->add_option("--tasks", a->tasks, "scale-out: number of tasks; outputs go to OUT/task-<i>/ with a DONE marker");
  cmd->footer(
      "Scale-out: run `veritas curate --task i --tasks N ...` for i = 0..N-1 (any scheduler; a relaunch skips\n"
      "completed tasks), then `veritas curate dedup -o OUT --tasks N` for the cross-task dedup and final outputs.\n"
      "In a Slurm array job (sbatch --array=0-N-1) without --task/--tasks, the task is SLURM_ARRAY_TASK_ID minus\n"
      "SLURM_ARRAY_TASK_MIN and the count SLURM_ARRAY_TASK_COUNT (docs/scale.md).");
  cmd->callback([cmd, a] {
    if (cmd->get_subcommands().size() > 0) return;  // a subcommand ran
    check(!a->inputs.empty(), "curate: give --input FILE... (see veritas curate --help)");
    check(!a->out.empty(), "curate: give -o OUT");
    check((a->task < 0) == (a->tasks == 0), "curate: --task and --tasks go together");
    if (a->tasks == 0 && slurm_array_task(a->task, a->tasks))
      std::fprintf(stderr, "curate: Slurm array task %d of %d\n", a->task, a->tasks);
    CurateOptions opt;
    opt.inputs = a->inputs;
    opt.out_dir = a->out;
    if (!a->config.empty()) {
      opt.config = load_config(a->config);
      opt.config_dir = std::filesystem::path(a->config).parent_path().string();
    }
    if (a->tasks > 0) {
      opt.task = a->task;
      opt.tasks = a->tasks;
    }
    // The spun stage's language-model evidence, where [spun] names models (curate_lm/).
    check_curation_config_keys(opt.config);
    const SpunConfig spun = SpunConfig::from_json(opt.config.value("spun", nlohmann::json::object()));
    if (spun.enabled) opt.after_spun = spun_lm_stages(spun, &opt.notes);
    CurateResult r = run_curate(opt);
    if (r.skipped) std::printf("%s: already complete (DONE marker matches inputs and config); skipped\n", r.dir.c_str());
    print_summary(r);
    check_readable(r);
  });

  auto* dd = cmd->add_subcommand("dedup", "merge scale-out task outputs: cross-task dedup, final kept/rejected and card");
  auto dout = std::make_shared<std::string>();
  auto dtasks = std::make_shared<int>(0);
  dd->add_option("-o,--out", *dout, "the folder the tasks wrote into (OUT/task-<i>/)")->required();
  dd->add_option("--tasks", *dtasks, "number of tasks")->required();
  dd->callback([dout, dtasks] {
    CurateResult r = merge_curate_tasks(*dout, *dtasks);
    print_summary(r);
    check_readable(r);
  });

  auto* sy = cmd->add_subcommand("synth", "generate a labelled test corpus from real text in Debian packages");
  auto so = std::make_shared<SynthOptions>();
  sy->add_option("-o,--out", so->output, "output JSONL file (FILE.labels.tsv and FILE.optout.txt are written beside it)")->required();
  sy->add_option("--docs", so->docs, "number of lines")->default_val(1000);
  sy->add_option("--seed", so->seed, "random seed")->default_val(1);
  sy->callback([so] {
    SynthSummary s = synth_corpus(*so);
    std::printf("%s: %lld lines, %.1f MB\n", so->output.c_str(), (long long)so->docs, s.bytes / 1e6);
    for (auto& [k, v] : s.labels) std::printf("  %-12s %lld\n", k.c_str(), (long long)v);
  });

  register_curate_classifier(cmd);
  register_curate_score_spun(cmd);
}

}  // namespace veritas::cli
