#pragma once
// The training library: configuration, batch sources (token shards or SFT examples),
// the Trainer (one optimizer step at a time, evaluation, checkpoints) and the run loop
// behind `veritas train`. Later stages (self-play) drive a Trainer directly:
//
//   TrainConfig cfg = ...;                 // or TrainConfig::from_json(load_config(path))
//   Trainer tr(cfg);                       // builds the model (fresh or cfg.init_from)
//   tr.set_train_source(std::make_unique<SftSource>(examples, B, T, seed));
//   StepStats s = tr.step();               // accum micro-batches, clip, AdamW, schedule
//   tr.save_checkpoint(out_dir);           // atomic; tr.load_checkpoint(out_dir) resumes
//
// Checkpoint layout and the crash-safety scheme: docs/formats.md, docs/training.md.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veritas/backend/backend.hpp"
#include "veritas/model/config.hpp"
#include "veritas/model/model.hpp"
#include "veritas/train/adamw.hpp"
#include "veritas/train/schedule.hpp"
#include "veritas/util/rng.hpp"

namespace veritas {

class Dist;

struct TrainConfig {
  ModelConfig model;
  std::string data_dir;   // shards train_*.bin (and val_*.bin for validation)
  std::string out_dir;    // run folder: checkpoint/, metrics.jsonl, loss.svg
  std::string init_from;  // start from this checkpoint's weights (fine-tuning); fresh optimizer
  std::string sft;        // JSONL of {"prompt","answer"} or {"messages":[...]}: SFT instead of shards
  std::string sft_val;    // optional held-out JSONL for SFT validation
  std::string tokenizer;  // tokenizer.json (SFT needs it; copied into checkpoints when set)
  int64_t steps = 1000;
  int batch = 8;   // sequences per micro-batch
  int seq = 128;   // tokens per sequence
  int accum = 1;   // micro-batches per optimizer step
  double lr = 3e-4;
  double min_lr = -1;  // end of the cosine decay; < 0 means lr / 10
  int64_t warmup = 100;
  AdamWConfig adamw;
  double clip = 1.0;  // global gradient-norm limit (<= 0: off)
  int64_t eval_every = 100, eval_batches = 8, save_every = 500;
  uint64_t seed = 1337;
  int threads = 0;          // 0 = all cores
  double time_limit = 0;    // seconds; stop cleanly (with a checkpoint) when reached; 0 = none
  double step_delay_ms = 0; // testing only: sleep after each step so a test can kill mid-run
  int zero = 0;             // 1 = ZeRO-1: AdamW moments sharded across the ranks (docs/scale.md)
  int train_layers = 0;     // > 0: train only the last K blocks + final norm, embeddings frozen (0 = all)
  // Matrix products: "fp32", or "bf16" (inputs rounded to bf16, fp32 sums; AMX tiles where
  // the CPU has them — kernels/gemm_bf16.hpp). Weights, gradients and AdamW stay fp32.
  std::string matmul = "fp32";
  // Where the model trains (backend/backend.hpp): "cpu", "cuda", or "cpu-staged" (the
  // device code path on the CPU, for tests). Checkpoints are the same files whichever
  // wrote them.
  std::string device = "cpu";

  // Keys are the flag names with '_' (e.g. "weight_decay", "eval_every"); "model" holds
  // Hugging Face config.json fields. Unknown keys are an error (typos must not pass).
  static TrainConfig from_json(const nlohmann::json& j, const TrainConfig& base);
  static TrainConfig from_json(const nlohmann::json& j) { return from_json(j, TrainConfig()); }
  nlohmann::json to_json() const;
  void validate() const;  // throws Error naming the bad setting
  LrSchedule schedule() const { return {lr, min_lr < 0 ? lr / 10 : min_lr, warmup, steps}; }
};

// One micro-batch: B sequences of T tokens; mask empty = every target counts.
struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> inputs, targets;
  std::vector<float> mask;
  double weight() const;  // sum of the mask (B*T when empty)
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual void next(Batch& b) = 0;
  virtual nlohmann::json state() const = 0;
  virtual void set_state(const nlohmann::json& s) = 0;
  virtual void reset() = 0;  // back to the start (validation passes)
};

// Rank `rank` of a data-parallel job reads rows [rank*B, (rank+1)*B) of each batch of
// `inner`, which draws the global batch (ranks x B rows): the ranks' windows are disjoint
// and the global batches are those of one process reading ranks x B rows.
std::unique_ptr<BatchSource> make_rank_slice(std::unique_ptr<BatchSource> inner, int B, int rank);

// Token shards through data/shards.hpp DataLoader.
std::unique_ptr<BatchSource> make_shard_source(const std::vector<std::filesystem::path>& shards, int B, int T,
                                               uint64_t seed, bool sequential);
// Sorted train_*.bin / val_*.bin in dir (val may be empty; train may not).
std::vector<std::filesystem::path> find_shards(const std::filesystem::path& dir, const std::string& prefix);

struct StepStats {
  int64_t step = 0;  // optimizer steps done after this one
  double loss = 0;   // mean training loss over the step's micro-batches (mask-weighted)
  double lr = 0;
  double grad_norm = 0;  // before clipping
  int64_t tokens = 0;    // target tokens processed
  double seconds = 0;
  double comm_seconds = 0;  // data parallel: time spent waiting for the gradient sums
};

class Trainer {
 public:
  // Builds the model (cfg.init_from's weights, else a fresh init from cfg.seed), the
  // optimizer and, when cfg.data_dir or cfg.sft is set, the batch sources.
  explicit Trainer(TrainConfig cfg);
  ~Trainer();

  void set_train_source(std::unique_ptr<BatchSource> src);
  void set_val_source(std::unique_ptr<BatchSource> src);  // nullptr = no validation

  // One optimizer step over cfg.accum micro-batches from the train source.
  StepStats step();
  // One optimizer step over the given micro-batches (each at most batch x seq).
  // Gradients are weighted by each micro-batch's mask sum, so accumulating two halves
  // equals one full batch. With several ranks (Dist::world()) the micro-batches are this
  // rank's share: weights, gradients (one reduction per layer, started during the
  // backward pass, on the CPU as on a device), loss and tokens are summed over the ranks,
  // and every rank applies the same update. Every rank must call it the same number of
  // times.
  StepStats step_on(const std::vector<Batch>& micro);
  // For callers that computed gradients themselves (model().forward_backward): clip,
  // schedule, AdamW, zero the gradients. `loss` is only reported back. With several
  // ranks the gradients must already be summed over them (step_on does that), except
  // under ZeRO-1, which sums them here.
  StepStats apply_gradients(double loss, int64_t tokens);
  // Those callers' gradient sum over the ranks, before apply_gradients: the same per-layer
  // reductions as step_on. Every rank must call it, with zero gradients where it had
  // nothing to add; a no-op on one rank and under ZeRO-1. Returns the seconds it waited.
  // overlap_gradient_sums(), called just before a rank's last backward pass of the step,
  // starts each layer's sum as soon as that pass has finished it (as step_on does);
  // without it the sums start in sum_gradients().
  void overlap_gradient_sums();
  double sum_gradients();

  // Mean loss over cfg.eval_batches batches of the validation source from its start
  // (NaN when there is none). Does not touch gradients or training state.
  double evaluate();

  // Atomic: writes dir/tmp-<step>-<pid>/, fsyncs it, then swaps it with dir/checkpoint.
  // With several ranks every rank calls it; rank 0 writes (the same files as one process
  // would, so any number of ranks can resume them).
  void save_checkpoint(const std::filesystem::path& run_dir);
  // Restores model, optimizer, step and sources from run_dir/checkpoint (resume).
  void load_checkpoint(const std::filesystem::path& run_dir);

  int64_t step_count() const { return step_; }
  Dist& dist() { return *dist_; }
  Model& model() { return *model_; }
  const TrainConfig& config() const { return cfg_; }
  TrainConfig& mutable_config() { return cfg_; }  // e.g. extend steps after a resume
  // Training seconds so far (all processes of this run); saved with checkpoints.
  double elapsed() const { return elapsed_before_; }
  void set_elapsed(double s) { elapsed_before_ = s; }
  // State of a caller that drives the trainer (self-play's round, curriculum, logs): saved
  // inside each checkpoint's train_state.json, so it can never disagree with the weights.
  void set_extra_state(nlohmann::json s) { extra_ = std::move(s); }
  const nlohmann::json& extra_state() const { return extra_; }

 private:
  TrainConfig cfg_;
  std::unique_ptr<Model> model_;
  // AdamW (train/adamw.hpp's arithmetic) on the model's backend: the moments, flat in
  // parameter order (under ZeRO-1 only this rank's range of them), and the step count.
  DeviceBuffer m_, v_;
  int64_t t_ = 0;
  void update(float lr, double& grad_norm);  // clip the gradients (torch's clip_grad_norm_), then AdamW
  void save_optimizer(const std::filesystem::path& path);  // the whole moments (not ZeRO-1)
  void host_moments(std::vector<float>& hm, std::vector<float>& hv, const float*& m, const float*& v);
  // optimizer.safetensors from the whole moments, flat, on the host.
  void write_moments(const std::filesystem::path& path, const float* m, const float* v);
  void take_moments(const AdamW& full);  // this process's range [zb_, ze_) of a loaded state
  std::unique_ptr<BatchSource> train_, val_;
  int64_t step_ = 0;
  double elapsed_before_ = 0;
  nlohmann::json extra_;
  Dist* dist_ = nullptr;
  // The range [zb_, ze_) of the flat parameter vector whose moments m_ and v_ hold: all of
  // it, or under ZeRO-1 this rank's, with zg_ its part of the summed gradients.
  int64_t zb_ = 0, ze_ = 0;
  DeviceBuffer zg_;
  std::vector<std::pair<int64_t, int64_t>> zero_ranges(int64_t n) const;  // every rank's range
  double zero_comm_ = 0;  // seconds in the last update's reduce-scatter and all-gather
  int64_t overlap_buckets_ = 0;  // reductions started by overlap_gradient_sums' hook
  void zero_init();
  void zero_update(float lr, double& grad_norm);
  void reduce_all_gradients();
  // Collective: the whole moments, flat, on rank 0 (empty elsewhere).
  void zero_gather(std::vector<float>& m, std::vector<float>& v);
  std::unique_ptr<Collective> coll_;  // several ranks on devices the host cannot address (NCCL)
  // The sum over the ranks of params()[first, end)'s gradients (one bucket), started now:
  // MPI on host-addressable memory, else the backend's collective; wait_sums ends them.
  void start_bucket_sum(size_t first, size_t end);
  void wait_sums();
};

// Where a run folder's current checkpoint is: run_dir/checkpoint, or the previous one
// (checkpoint.old) when a crash interrupted a swap, or run_dir itself when it directly
// holds config.json + model.safetensors. Throws Error when there is none.
std::filesystem::path find_checkpoint(const std::filesystem::path& dir);
// Reads the config.json + model.safetensors of a checkpoint folder into a new model.
std::unique_ptr<Model> load_model(const std::filesystem::path& dir, int max_batch, int max_seq);

// The settings saved in a run folder's checkpoint (what --resume starts from).
TrainConfig read_checkpoint_config(const std::filesystem::path& run_dir);

struct RunOptions {
  bool resume = false;
  std::function<bool()> should_stop;  // polled after each step (signals); may be empty
};
struct RunResult {
  int64_t steps_done = 0;
  double final_loss = 0, final_val_loss = 0;
  bool stopped_early = false;  // time limit or signal
};
// The `veritas train` loop: progress bar, validation, metrics.jsonl, loss.svg, periodic
// and final checkpoints in cfg.out_dir, clean stop on the time limit.
RunResult run_training(TrainConfig cfg, const RunOptions& opt);

}  // namespace veritas
