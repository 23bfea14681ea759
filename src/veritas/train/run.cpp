// The `veritas train` loop (run_training): progress, validation, metrics log, loss
// curve, periodic checkpoints and a clean stop on the time limit or a signal.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>

#include "veritas/kernels/kernels.hpp"
#include "veritas/train/dist.hpp"
#include "veritas/train/trainer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/progress.hpp"
#include "veritas/util/svg.hpp"
#include "veritas/util/timer.hpp"

namespace veritas {

using nlohmann::json;

namespace {

struct History {
  std::vector<double> step, loss, val_step, val_loss;
  void add(const json& rec) {
    step.push_back(rec["step"].get<double>());
    loss.push_back(rec["loss"].get<double>());
    if (rec.contains("val_loss") && rec["val_loss"].is_number()) {
      val_step.push_back(rec["step"].get<double>());
      val_loss.push_back(rec["val_loss"].get<double>());
    }
  }
};

void write_loss_svg(const std::filesystem::path& path, const History& h) {
  Chart c;
  c.title = "training loss";
  c.xlabel = "step";
  c.ylabel = "cross-entropy (nats/token)";
  c.series.push_back({"train", h.step, h.loss, false, ""});
  if (!h.val_step.empty()) c.series.push_back({"validation", h.val_step, h.val_loss, true, ""});
  atomic_write_file(path, c.to_svg());
}

// Keeps the records of steps the checkpoint covers (a killed run may have logged
// further steps, or half a line) and rewrites the log atomically.
void trim_metrics(const std::filesystem::path& path, int64_t upto, History& h) {
  std::string kept;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::string text = read_file(path);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) break;  // unterminated last line: cut by the kill
      std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      json rec = json::parse(line, nullptr, false);
      if (rec.is_discarded() || !rec.is_object() || !rec.contains("step") || !rec["step"].is_number_integer() ||
          !rec.contains("loss") || !rec["loss"].is_number())
        continue;
      if (rec["step"].get<int64_t>() > upto) continue;
      h.add(rec);
      kept += line + "\n";
    }
  }
  atomic_write_file(path, kept);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

RunResult run_training(TrainConfig cfg, const RunOptions& opt) {
  namespace fs = std::filesystem;
  check(!cfg.out_dir.empty(), "train: --out is required");
  check(!cfg.data_dir.empty() || !cfg.sft.empty(), "train: --data (token shards) or --sft (JSONL) is required");
  kernels::set_cpu_threads(cfg.threads);
  const fs::path out = cfg.out_dir;
  std::error_code ec;
  // Several ranks (mpirun / srun): rank 0 logs and writes; all train and checkpoint together.
  Dist& dist = Dist::world();
  const bool lead = dist.rank() == 0;
  if (opt.resume) {
    // A clear error when there is nothing to resume, or when the saved model sizes are not
    // those of the saved weights (before the trainer allocates from them).
    cfg.model.check_safetensors(find_checkpoint(out) / "model.safetensors");
    cfg.init_from.clear();  // the checkpoint holds the weights
  } else {
    check(!fs::exists(out / "checkpoint", ec) && !fs::exists(out / "checkpoint.old", ec),
          out.string() + " already holds a checkpoint: pass --resume to continue it, or choose another --out");
  }
  dist.barrier();  // every rank has looked before rank 0 changes the folder
  if (lead) {
    fs::create_directories(out);
    // Leftovers of a run killed while writing a checkpoint.
    for (const auto& e : fs::directory_iterator(out))
      if (e.is_directory() && e.path().filename().string().rfind("tmp-", 0) == 0) fs::remove_all(e.path());
  }

  Trainer tr(cfg);
  cfg = tr.config();
  History hist;
  const fs::path metrics_path = out / "metrics.jsonl", svg_path = out / "loss.svg";
  if (opt.resume) {
    tr.load_checkpoint(out);
    if (lead)
      std::fprintf(stderr, "train: resuming %s at step %lld of %lld\n", out.string().c_str(),
                   (long long)tr.step_count(), (long long)cfg.steps);
  }
  std::FILE* mf = nullptr;
  if (lead) {
    trim_metrics(metrics_path, tr.step_count(), hist);
    mf = std::fopen(metrics_path.c_str(), "ab");
    check(mf != nullptr, "cannot open " + metrics_path.string());
  }
  struct Closer {
    std::FILE* f;
    ~Closer() {
      if (f) std::fclose(f);
    }
  } closer{mf};

  if (lead)
    std::fprintf(stderr, "train: model %lld parameters, %d layers, hidden %d; %d x %d tokens x %d accum per step\n",
                 (long long)cfg.model.num_params(), cfg.model.num_hidden_layers, cfg.model.hidden_size, cfg.batch,
                 cfg.seq, cfg.accum);
  if (lead && dist.multi())
    std::fprintf(stderr, "train: %d ranks (global batch %d sequences)%s\n", dist.size(), cfg.batch * dist.size(),
                 cfg.zero ? ", ZeRO-1" : "");
  if (lead && cfg.device != "cpu")
    std::fprintf(stderr, "train: on %s, %s products\n", tr.model().backend().describe().c_str(), cfg.matmul.c_str());

  RunResult res;
  const double elapsed0 = tr.elapsed();
  Timer timer;
  int64_t tokens = 0;
  int64_t last_saved = tr.step_count();
  std::optional<Progress> bar;
  if (lead) {
    bar.emplace("train", cfg.steps, "step");
    bar->update(tr.step_count());
  }
  auto save = [&] {
    tr.set_elapsed(elapsed0 + timer.seconds());
    tr.save_checkpoint(out);
    if (lead) write_loss_svg(svg_path, hist);
    last_saved = tr.step_count();
  };
  while (tr.step_count() < cfg.steps) {
    StepStats s = tr.step();
    tokens += s.tokens;
    const double secs = timer.seconds();
    json rec = {{"step", s.step}, {"loss", s.loss}, {"lr", s.lr}, {"grad_norm", s.grad_norm}, {"tokens", s.tokens}};
    res.final_loss = s.loss;
    if ((cfg.eval_every > 0 && s.step % cfg.eval_every == 0) || s.step == cfg.steps) {
      const double vl = tr.evaluate();
      if (std::isfinite(vl)) {
        rec["val_loss"] = vl;
        res.final_val_loss = vl;
      }
    }
    if (dist.multi()) {
      rec["ranks"] = dist.size();
      rec["step_seconds"] = s.seconds;
      rec["comm_seconds"] = s.comm_seconds;  // blocked on the gradient reduction
    }
    rec["tokens_per_s"] = secs > 0 ? tokens / secs : 0.0;
    rec["elapsed"] = elapsed0 + secs;
    hist.add(rec);
    ++res.steps_done;
    if (lead) {
      const std::string line = rec.dump() + "\n";
      check(std::fwrite(line.data(), 1, line.size(), mf) == line.size() && std::fflush(mf) == 0,
            "cannot write " + metrics_path.string());
      std::string status = "loss " + fmt("%.4f", s.loss) + " lr " + fmt("%.2e", s.lr) + " " +
                           fmt("%.0f", secs > 0 ? tokens / secs : 0.0) + " tok/s";
      if (rec.contains("val_loss")) status += " val " + fmt("%.4f", rec["val_loss"].get<double>());
      bar->update(s.step, status);
    }
    if (cfg.save_every > 0 && s.step % cfg.save_every == 0 && s.step < cfg.steps) save();
    if (cfg.step_delay_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(cfg.step_delay_ms));
    // The ranks agree on stopping (a clock or a signal seen by one rank stops them all).
    const int why = dist.max((cfg.time_limit > 0 && timer.seconds() >= cfg.time_limit ? 1 : 0) |
                             (opt.should_stop && opt.should_stop() ? 2 : 0));
    const bool out_of_time = why & 1, asked = why & 2;
    if ((out_of_time || asked) && tr.step_count() < cfg.steps) {
      res.stopped_early = true;
      if (lead) std::fprintf(stderr, "\ntrain: %s at step %lld; checkpointing (continue with --resume)\n",
                   out_of_time ? "time limit reached" : "stop requested", (long long)tr.step_count());
      break;
    }
  }
  // Rank 0's view decides (another rank may not see the new folder yet).
  if (dist.max(last_saved != tr.step_count() || (lead && !fs::exists(out / "checkpoint", ec)))) save();
  else if (lead) write_loss_svg(svg_path, hist);
  if (!lead) return res;
  bar->finish(res.steps_done ? "loss " + fmt("%.4f", res.final_loss) : "");
  std::fprintf(stderr, "train: step %lld/%lld, checkpoint in %s, metrics in %s\n", (long long)tr.step_count(),
               (long long)cfg.steps, (out / "checkpoint").string().c_str(), metrics_path.string().c_str());
  return res;
}

}  // namespace veritas
