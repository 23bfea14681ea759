#include "veritas/train/trainer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include <xxhash.h>

#include "veritas/data/shards.hpp"
#include "veritas/model/safetensors.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/tokenizer/tokenizer_files.hpp"
#include "veritas/train/dist.hpp"
#include "veritas/train/sft.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/timer.hpp"

namespace veritas {

using nlohmann::json;

// ---------------------------------------------------------------- config

namespace {

template <class T>
T num(const json& v, const char* key) {
  check(v.is_number(), std::string("train config: \"") + key + "\" must be a number");
  if constexpr (std::is_integral_v<T>) {
    if (v.is_number_float()) {
      double d = v.get<double>();
      check(std::floor(d) == d, std::string("train config: \"") + key + "\" must be an integer");
      return (T)d;
    }
    if constexpr (std::is_unsigned_v<T>) {
      check(!v.is_number_integer() || v.is_number_unsigned() || v.get<int64_t>() >= 0,
            std::string("train config: \"") + key + "\" must not be negative");
    }
  }
  return v.get<T>();
}

std::string str(const json& v, const char* key) {
  check(v.is_string(), std::string("train config: \"") + key + "\" must be a string");
  return v.get<std::string>();
}

}  // namespace

TrainConfig TrainConfig::from_json(const json& j, const TrainConfig& base) {
  check(j.is_object(), "train config: expected an object of settings");
  TrainConfig c = base;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (v.is_null()) continue;
    const char* key = k.c_str();
    if (k == "model") {
      check(v.is_object(), "train config: \"model\" must be an object of config.json fields");
      json m = c.model.to_json();
      m.erase("head_dim");  // derived from the shape; kept only when given explicitly
      for (auto mi = v.begin(); mi != v.end(); ++mi) m[mi.key()] = mi.value();
      c.model = ModelConfig::from_json(m);
    } else if (k == "data") c.data_dir = str(v, key);
    else if (k == "out") c.out_dir = str(v, key);
    else if (k == "init_from") c.init_from = str(v, key);
    else if (k == "sft") c.sft = str(v, key);
    else if (k == "sft_val") c.sft_val = str(v, key);
    else if (k == "tokenizer") c.tokenizer = str(v, key);
    else if (k == "steps") c.steps = num<int64_t>(v, key);
    else if (k == "batch") c.batch = num<int>(v, key);
    else if (k == "seq") c.seq = num<int>(v, key);
    else if (k == "accum") c.accum = num<int>(v, key);
    else if (k == "lr") c.lr = num<double>(v, key);
    else if (k == "min_lr") c.min_lr = num<double>(v, key);
    else if (k == "warmup") c.warmup = num<int64_t>(v, key);
    else if (k == "weight_decay") c.adamw.weight_decay = num<double>(v, key);
    else if (k == "beta1") c.adamw.beta1 = num<double>(v, key);
    else if (k == "beta2") c.adamw.beta2 = num<double>(v, key);
    else if (k == "eps") c.adamw.eps = num<double>(v, key);
    else if (k == "clip") c.clip = num<double>(v, key);
    else if (k == "eval_every") c.eval_every = num<int64_t>(v, key);
    else if (k == "eval_batches") c.eval_batches = num<int64_t>(v, key);
    else if (k == "save_every") c.save_every = num<int64_t>(v, key);
    else if (k == "seed") c.seed = num<uint64_t>(v, key);
    else if (k == "threads") c.threads = num<int>(v, key);
    else if (k == "time_limit") c.time_limit = num<double>(v, key);
    else if (k == "step_delay_ms") c.step_delay_ms = num<double>(v, key);
    else if (k == "zero") c.zero = num<int>(v, key);
    else if (k == "train_layers") c.train_layers = num<int>(v, key);
    else if (k == "matmul") c.matmul = str(v, key);
    else if (k == "device") c.device = str(v, key);
    else throw Error("train config: unknown setting \"" + k + "\"");
  }
  return c;
}

json TrainConfig::to_json() const {
  return json{{"model", model.to_json()},
              {"data", data_dir},
              {"out", out_dir},
              {"init_from", init_from},
              {"sft", sft},
              {"sft_val", sft_val},
              {"tokenizer", tokenizer},
              {"steps", steps},
              {"batch", batch},
              {"seq", seq},
              {"accum", accum},
              {"lr", lr},
              {"min_lr", min_lr},
              {"warmup", warmup},
              {"weight_decay", adamw.weight_decay},
              {"beta1", adamw.beta1},
              {"beta2", adamw.beta2},
              {"eps", adamw.eps},
              {"clip", clip},
              {"eval_every", eval_every},
              {"eval_batches", eval_batches},
              {"save_every", save_every},
              {"seed", seed},
              {"threads", threads},
              {"time_limit", time_limit},
              {"step_delay_ms", step_delay_ms},
              {"zero", zero},
              {"train_layers", train_layers},
              {"matmul", matmul},
              {"device", device}};
}

void TrainConfig::validate() const {
  auto bad = [](const std::string& what) { throw Error("train config: " + what); };
  if (steps <= 0) bad("steps must be positive");
  if (batch <= 0) bad("batch must be positive");
  if (seq <= 0) bad("seq must be positive");
  if (seq > model.max_position_embeddings)
    bad("seq " + std::to_string(seq) + " exceeds the model's max_position_embeddings " +
        std::to_string(model.max_position_embeddings));
  if (accum <= 0) bad("accum must be positive");
  if (!(lr > 0) || !std::isfinite(lr)) bad("lr must be positive");
  if (min_lr > lr || std::isnan(min_lr)) bad("min_lr must be at most lr");
  if (warmup < 0) bad("warmup must not be negative");
  if (!(adamw.beta1 >= 0 && adamw.beta1 < 1)) bad("beta1 must be in [0, 1)");
  if (!(adamw.beta2 >= 0 && adamw.beta2 < 1)) bad("beta2 must be in [0, 1)");
  if (!(adamw.eps > 0)) bad("eps must be positive");
  if (!(adamw.weight_decay >= 0) || !std::isfinite(adamw.weight_decay)) bad("weight_decay must be >= 0");
  if (!(clip >= 0) || !std::isfinite(clip)) bad("clip must be >= 0 (0 = off)");
  if (eval_every < 0 || eval_batches < 0 || save_every < 0) bad("eval_every, eval_batches and save_every must be >= 0");
  if (threads < 0) bad("threads must be >= 0");
  if (!(time_limit >= 0)) bad("time_limit must be >= 0");
  if (!(step_delay_ms >= 0)) bad("step_delay_ms must be >= 0");
  if (zero != 0 && zero != 1) bad("zero must be 0 (off) or 1 (ZeRO-1: optimizer state sharded)");
  if (train_layers < 0 || train_layers > model.num_hidden_layers)
    bad("train_layers must be in [0, " + std::to_string(model.num_hidden_layers) + "] (0 = all)");
  if (train_layers > 0 && zero != 0) bad("train_layers and zero cannot be combined");
  if (matmul != "fp32" && matmul != "bf16") bad("matmul must be fp32 or bf16, not \"" + matmul + "\"");
  if (device != "cpu" && device != "cuda" && device != "cpu-staged")
    bad("device must be cpu or cuda, not \"" + device + "\"");
  model.validate();
}

// ---------------------------------------------------------------- batches

double Batch::weight() const {
  if (mask.empty()) return (double)B * T;
  double s = 0;
  for (float m : mask) s += m;
  return s;
}

namespace {

class ShardSource : public BatchSource {
 public:
  ShardSource(const std::vector<std::filesystem::path>& shards, int B, int T, uint64_t seed, bool sequential)
      : loader_(shards, B, T, seed, sequential), B_(B), T_(T) {}
  void next(Batch& b) override {
    b.B = B_;
    b.T = T_;
    b.inputs.resize((size_t)B_ * T_);
    b.targets.resize((size_t)B_ * T_);
    b.mask.clear();
    loader_.next(b.inputs.data(), b.targets.data());
  }
  json state() const override { return loader_.state(); }
  void set_state(const json& s) override { loader_.set_state(s); }
  void reset() override { loader_.reset(); }
  int32_t max_token() const { return loader_.max_token(); }

 private:
  DataLoader loader_;
  int B_, T_;
};

class RankSlice : public BatchSource {
 public:
  RankSlice(std::unique_ptr<BatchSource> inner, int B, int rank) : inner_(std::move(inner)), B_(B), rank_(rank) {}
  void next(Batch& b) override {
    inner_->next(full_);
    check(full_.B >= (rank_ + 1) * B_, "data-parallel batch: the source gave " + std::to_string(full_.B) +
                                          " rows, rank " + std::to_string(rank_) + " needs rows up to " +
                                          std::to_string((rank_ + 1) * B_));
    const size_t n = (size_t)B_ * full_.T, off = (size_t)rank_ * n;
    b.B = B_;
    b.T = full_.T;
    b.inputs.assign(full_.inputs.begin() + off, full_.inputs.begin() + off + n);
    b.targets.assign(full_.targets.begin() + off, full_.targets.begin() + off + n);
    if (full_.mask.empty()) b.mask.clear();
    else b.mask.assign(full_.mask.begin() + off, full_.mask.begin() + off + n);
  }
  json state() const override { return inner_->state(); }
  void set_state(const json& s) override { inner_->set_state(s); }
  void reset() override { inner_->reset(); }

 private:
  std::unique_ptr<BatchSource> inner_;
  int B_, rank_;
  Batch full_;
};

}  // namespace

std::unique_ptr<BatchSource> make_rank_slice(std::unique_ptr<BatchSource> inner, int B, int rank) {
  return std::make_unique<RankSlice>(std::move(inner), B, rank);
}

std::unique_ptr<BatchSource> make_shard_source(const std::vector<std::filesystem::path>& shards, int B, int T,
                                               uint64_t seed, bool sequential) {
  return std::make_unique<ShardSource>(shards, B, T, seed, sequential);
}

std::vector<std::filesystem::path> find_shards(const std::filesystem::path& dir, const std::string& prefix) {
  std::error_code ec;
  check(std::filesystem::is_directory(dir, ec), "data folder " + dir.string() + " does not exist");
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > prefix.size() + 4 && name.compare(0, prefix.size(), prefix) == 0 &&
        name.compare(name.size() - 4, 4, ".bin") == 0)
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------- checkpoints

std::filesystem::path find_checkpoint(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir / "checkpoint" / "config.json", ec)) return dir / "checkpoint";
  // A crash between the two renames of the fallback swap leaves only the previous one.
  if (fs::exists(dir / "checkpoint.old" / "config.json", ec)) return dir / "checkpoint.old";
  if (fs::exists(dir / "config.json", ec) && fs::exists(dir / "model.safetensors", ec)) return dir;
  throw Error("no checkpoint in " + dir.string() + " (expected checkpoint/ or config.json + model.safetensors)");
}

std::unique_ptr<Model> load_model(const std::filesystem::path& dir, int max_batch, int max_seq) {
  auto ck = find_checkpoint(dir);
  ModelConfig mc = ModelConfig::load_checkpoint(ck);
  auto m = std::make_unique<Model>(mc, max_batch, max_seq);
  m->load(ck / "model.safetensors");
  return m;
}

static uint64_t file_hash(const std::string& bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

static json read_json_file(const std::filesystem::path& p) {
  std::string text = read_file(p);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(p.string() + ": invalid JSON (truncated or corrupt?): " + e.what());
  }
}

// ---------------------------------------------------------------- trainer

Trainer::Trainer(TrainConfig cfg) : cfg_(std::move(cfg)), dist_(&Dist::world()) {
  if (!cfg_.init_from.empty()) {
    auto ck = find_checkpoint(cfg_.init_from);
    cfg_.model = ModelConfig::load_checkpoint(ck);
  }
  cfg_.validate();
  Backend& be = backend_named(cfg_.device);
  be.set_matmul_bf16(cfg_.matmul == "bf16");
  model_ = std::make_unique<Model>(cfg_.model, cfg_.batch, cfg_.seq, be);
  if (!cfg_.init_from.empty()) model_->load(find_checkpoint(cfg_.init_from) / "model.safetensors");
  else model_->init_weights(cfg_.seed);
  if (cfg_.train_layers > 0) model_->set_train_from_layer(cfg_.model.num_hidden_layers - cfg_.train_layers);
  model_->zero_grad();
  if (dist_->multi() && !be.host_addressable())
    coll_ = be.collective(dist_->size(), dist_->rank(),
                          [this](void* bytes, size_t n) { dist_->broadcast(bytes, (int64_t)n, 0); });
  if (cfg_.zero) {
    zero_init();
  } else {  // the moments of every parameter
    for (const auto& p : model_->params()) ze_ += p.size;
    m_ = DeviceBuffer(be, sizeof(float) * ze_);
    v_ = DeviceBuffer(be, sizeof(float) * ze_);
    be.zero(m_.get(), sizeof(float) * ze_);
    be.zero(v_.get(), sizeof(float) * ze_);
  }
  // With several ranks the train source draws the global batch and this rank keeps its rows.
  const int ranks = dist_->size();
  auto own_rows = [&](std::unique_ptr<BatchSource> src) {
    return ranks > 1 ? make_rank_slice(std::move(src), cfg_.batch, dist_->rank()) : std::move(src);
  };

  const int vocab = cfg_.model.vocab_size;
  if (!cfg_.sft.empty()) {
    check(!cfg_.tokenizer.empty(), "SFT training needs --tokenizer");
    Tokenizer tok = load_tokenizer_files(cfg_.tokenizer);  // with its chat template (tokenizer_files.hpp)
    check(tok.vocab_size() <= vocab, "tokenizer " + cfg_.tokenizer + " has " + std::to_string(tok.vocab_size()) +
                                         " tokens, more than the model's vocab_size " + std::to_string(vocab));
    auto build = [&](const std::string& path, uint64_t seed, bool seq, int B) {
      std::vector<SftExample> ex;
      for (const auto& p : load_sft_jsonl(path)) ex.push_back(make_sft_example(tok, p));
      return std::make_unique<SftSource>(std::move(ex), B, cfg_.seq, tok.eot_id(), seed, seq);
    };
    train_ = own_rows(build(cfg_.sft, cfg_.seed, false, cfg_.batch * ranks));
    if (!cfg_.sft_val.empty()) val_ = build(cfg_.sft_val, cfg_.seed, true, cfg_.batch);
  } else if (!cfg_.data_dir.empty()) {
    auto tr = find_shards(cfg_.data_dir, "train_");
    check(!tr.empty(), "no train_*.bin shards in " + cfg_.data_dir);
    auto va = find_shards(cfg_.data_dir, "val_");
    auto tsrc = std::make_unique<ShardSource>(tr, cfg_.batch * ranks, cfg_.seq, cfg_.seed, false);
    // An id past the embedding table would read out of bounds: refuse it up front.
    auto check_vocab = [&](int32_t max_id, const std::string& what) {
      check(max_id < vocab, what + " in " + cfg_.data_dir + " hold token id " + std::to_string(max_id) +
                                " but the model's vocab_size is " + std::to_string(vocab));
    };
    check_vocab(tsrc->max_token(), "train shards");
    train_ = own_rows(std::move(tsrc));
    if (!va.empty()) {
      auto vsrc = std::make_unique<ShardSource>(va, cfg_.batch, cfg_.seq, cfg_.seed, true);
      check_vocab(vsrc->max_token(), "validation shards");
      val_ = std::move(vsrc);
    }
  }
}

Trainer::~Trainer() = default;

void Trainer::set_train_source(std::unique_ptr<BatchSource> src) { train_ = std::move(src); }
void Trainer::set_val_source(std::unique_ptr<BatchSource> src) { val_ = std::move(src); }

StepStats Trainer::step() {
  check(train_ != nullptr, "Trainer::step: no training data (set data, sft or a train source)");
  std::vector<Batch> micro((size_t)cfg_.accum);
  for (auto& b : micro) train_->next(b);
  return step_on(micro);
}

StepStats Trainer::step_on(const std::vector<Batch>& micro) {
  Timer t;
  check(!micro.empty(), "Trainer::step_on: no micro-batches");
  double total_w = 0;
  std::vector<double> w(micro.size());
  for (size_t i = 0; i < micro.size(); ++i) {
    const Batch& b = micro[i];
    check(b.B > 0 && b.T > 0 && b.B <= cfg_.batch && b.T <= cfg_.seq,
          "Trainer::step_on: micro-batch " + std::to_string(b.B) + "x" + std::to_string(b.T) + " exceeds " +
              std::to_string(cfg_.batch) + "x" + std::to_string(cfg_.seq));
    check(b.inputs.size() == (size_t)b.B * b.T && b.targets.size() == b.inputs.size() &&
              (b.mask.empty() || b.mask.size() == b.inputs.size()),
          "Trainer::step_on: micro-batch buffers do not match B x T");
    w[i] = b.weight();
    total_w += w[i];
  }
  Dist& d = *dist_;
  d.sum(&total_w, 1);  // every rank's shares then add up to one over the global batch
  check(total_w > 0, "Trainer::step_on: every target is masked out");
  model_->zero_grad();
  // Several ranks without ZeRO: each layer's gradients are summed as soon as the last
  // backward pass finishes them, while it goes on with the layers below.
  const bool overlap = d.multi() && cfg_.zero == 0;
  size_t last = micro.size();
  for (size_t i = 0; i < micro.size(); ++i)
    if (w[i] > 0) last = i;
  size_t buckets = 0;
  double loss = 0;
  int64_t tokens = 0;
  for (size_t i = 0; i < micro.size(); ++i) {
    if (w[i] <= 0) continue;
    const Batch& b = micro[i];
    const float share = (float)(w[i] / total_w);
    if (overlap && i == last)
      model_->set_grad_ready_hook([&](size_t first, size_t end) {
        start_bucket_sum(first, end);
        ++buckets;
      });
    float l;
    try {
      l = model_->forward_backward(b.inputs.data(), b.targets.data(), b.mask.empty() ? nullptr : b.mask.data(), b.B,
                                   b.T, share);
    } catch (...) {
      model_->set_grad_ready_hook(nullptr);
      throw;
    }
    model_->set_grad_ready_hook(nullptr);
    loss += (double)l * share;
    if (b.mask.empty()) tokens += (int64_t)b.B * b.T;
    else for (float m : b.mask) tokens += m != 0.0f;
  }
  Timer comm;
  if (overlap && buckets == 0) reduce_all_gradients();  // this rank had nothing to add
  wait_sums();
  if (d.multi()) {
    double lt[2] = {loss, (double)tokens};
    d.sum(lt, 2);
    loss = lt[0];
    tokens = (int64_t)lt[1];
  }
  check(std::isfinite(loss), "training loss is not finite at step " + std::to_string(step_ + 1) +
                                 " (learning rate too high?)");
  double comm_s = comm.seconds();
  StepStats s = apply_gradients(loss, tokens);
  if (cfg_.zero) comm_s += zero_comm_;
  s.comm_seconds = d.multi() ? comm_s : 0.0;
  s.seconds = t.seconds();
  return s;
}

StepStats Trainer::apply_gradients(double loss, int64_t tokens) {
  StepStats s;
  s.lr = cfg_.schedule().lr_at(step_);
  if (cfg_.zero) zero_update((float)s.lr, s.grad_norm);
  else update((float)s.lr, s.grad_norm);
  model_->zero_grad();
  ++step_;
  s.step = step_;
  s.loss = loss;
  s.tokens = tokens;
  return s;
}

// Clipping (as torch.nn.utils.clip_grad_norm_), then AdamW (train/adamw.hpp's
// arithmetic), on the model's backend: fixed-order per-tensor sums of squares, so every
// backend and thread count gives the CPU's bits up to the kernels' own rounding.
void Trainer::update(float lr, double& grad_norm) {
  Backend& be = model_->backend();
  auto& ps = model_->params();
  double ss = 0;
  for (const auto& p : ps) ss += be.sum_squares(p.dev_grad, p.size);
  grad_norm = std::sqrt(ss);
  check(std::isfinite(grad_norm), "gradient norm is not finite at step " + std::to_string(step_ + 1));
  if (cfg_.clip > 0 && grad_norm > cfg_.clip) {
    const float scale = (float)(cfg_.clip / (grad_norm + 1e-6));
    for (auto& p : ps) be.scale(p.dev_grad, p.size, scale);
  }
  ++t_;
  const AdamWConfig& a = cfg_.adamw;
  int64_t off = 0;
  for (auto& p : ps) {
    if (p.trainable)  // frozen: neither updated nor decayed
      be.adamw_update(p.dev_data, p.dev_grad, m_.floats() + off, v_.floats() + off, p.size, adamw_decays(p), lr,
                      a.beta1, a.beta2, a.eps, a.weight_decay, t_);
    off += p.size;
  }
}

// m_ and v_ (this process's range of the moments) as host pointers: themselves where the
// host can read them, else downloaded into hm and hv.
void Trainer::host_moments(std::vector<float>& hm, std::vector<float>& hv, const float*& m, const float*& v) {
  Backend& be = model_->backend();
  const int64_t len = ze_ - zb_;
  m = m_.floats(), v = v_.floats();
  if (be.host_addressable()) return;
  hm.resize((size_t)len), hv.resize((size_t)len);
  be.download(hm.data(), m, sizeof(float) * len);
  be.download(hv.data(), v, sizeof(float) * len);
  m = hm.data(), v = hv.data();
}

void Trainer::save_optimizer(const std::filesystem::path& path) {
  std::vector<float> hm, hv;
  const float *m, *v;
  host_moments(hm, hv, m, v);
  write_moments(path, m, v);
}

void Trainer::write_moments(const std::filesystem::path& path, const float* m, const float* v) {
  auto& ps = model_->params();
  std::vector<const float*> mp, vp;
  int64_t off = 0;
  for (const auto& p : ps) {
    mp.push_back(m + off), vp.push_back(v + off);
    off += p.size;
  }
  save_adamw_state(path, ps, mp, vp, t_, cfg_.adamw);
}

double Trainer::evaluate() {
  if (!val_ || cfg_.eval_batches <= 0) return std::numeric_limits<double>::quiet_NaN();
  val_->reset();
  Batch b;
  double sum = 0, wsum = 0;
  for (int64_t i = 0; i < cfg_.eval_batches; ++i) {
    val_->next(b);
    const double w = b.weight();
    if (w <= 0) continue;
    sum += w * model_->forward_loss(b.inputs.data(), b.targets.data(), b.mask.empty() ? nullptr : b.mask.data(), b.B, b.T);
    wsum += w;
  }
  return wsum > 0 ? sum / wsum : std::numeric_limits<double>::quiet_NaN();
}

static const char* kStateFormat = "veritas-train-state";

void Trainer::save_checkpoint(const std::filesystem::path& run_dir) {
  namespace fs = std::filesystem;
  // ZeRO-1: the moments are gathered on rank 0, which writes the one-process layout.
  std::vector<float> gm, gv;
  if (cfg_.zero) zero_gather(gm, gv);
  if (dist_->rank() != 0) {
    dist_->barrier();  // returns once rank 0 has written
    return;
  }
  fs::create_directories(run_dir);
  const fs::path final_dir = run_dir / "checkpoint", old_dir = run_dir / "checkpoint.old";
  const fs::path tmp = run_dir / ("tmp-" + std::to_string(step_) + "-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directory(tmp);

  cfg_.model.save(tmp / "config.json");
  model_->save(tmp / "model.safetensors");
  if (cfg_.zero) write_moments(tmp / "optimizer.safetensors", gm.data(), gv.data());
  else save_optimizer(tmp / "optimizer.safetensors");
  std::vector<std::string> files = {"config.json", "model.safetensors", "optimizer.safetensors"};
  if (!cfg_.tokenizer.empty()) {
    atomic_write_file(tmp / "tokenizer.json", read_file(cfg_.tokenizer));  // so the checkpoint is self-contained
    files.push_back("tokenizer.json");
    // The chat template and eos travel with it (an imported model's tokenizer_config.json).
    for (const auto& f : tokenizer_side_files()) {
      const fs::path src = fs::path(cfg_.tokenizer).parent_path() / f;
      if (!fs::exists(src)) continue;
      atomic_write_file(tmp / f, read_file(src));
      files.push_back(f);
    }
  }
  json manifest = json::object();
  for (const auto& f : files) {
    std::string bytes = read_file(tmp / f);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)file_hash(bytes));
    manifest[f] = {{"bytes", bytes.size()}, {"xxh3_64", hex}};
  }
  json st = {{"format", kStateFormat},
             {"version", 1},
             {"step", step_},
             {"elapsed", elapsed_before_},
             {"train_data", train_ ? train_->state() : json()},
             {"files", manifest},
             {"config", cfg_.to_json()},
             {"extra", extra_}};
  atomic_write_file(tmp / "train_state.json", st.dump(2) + "\n");
  fsync_dir(tmp);

  // Swap the complete new folder in. renameat2(RENAME_EXCHANGE) swaps atomically; where
  // the filesystem lacks it, two renames, with checkpoint.old as the fallback that
  // find_checkpoint() uses if a crash lands between them.
  std::error_code ec;
  if (fs::exists(old_dir, ec) && fs::exists(final_dir, ec)) fs::remove_all(old_dir);
  if (!fs::exists(final_dir, ec)) {
    fs::rename(tmp, final_dir);
  } else if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) {
    fsync_dir(run_dir);
    fs::remove_all(tmp);  // now holds the previous checkpoint
  } else {
    fs::rename(final_dir, old_dir);
    fsync_dir(run_dir);
    fs::rename(tmp, final_dir);
    fsync_dir(run_dir);
    fs::remove_all(old_dir);
  }
  fsync_dir(run_dir);

  // Convenience links so the run folder itself loads as a Hugging Face-style checkpoint.
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    if (!fs::exists(run_dir / "checkpoint" / f, ec)) continue;
    fs::path link = run_dir / f;
    if (fs::is_symlink(link, ec) || fs::exists(link, ec)) continue;
    fs::create_symlink(fs::path("checkpoint") / f, link, ec);
  }
  dist_->barrier();
}

void Trainer::load_checkpoint(const std::filesystem::path& run_dir) {
  namespace fs = std::filesystem;
  const fs::path dir = find_checkpoint(run_dir);
  const fs::path state_path = dir / "train_state.json";
  check(fs::exists(state_path), dir.string() + " has no train_state.json: not a training checkpoint (use --init-from)");
  json st = read_json_file(state_path);
  const std::string where = state_path.string();
  try {
    check(st.value("format", "") == kStateFormat, where + ": not a veritas train state");
    check(st.at("version").get<int>() == 1, where + ": unsupported version");
    // Size and hash of every file: a truncated or damaged file is named, not half-loaded.
    for (auto it = st.at("files").begin(); it != st.at("files").end(); ++it) {
      const fs::path p = dir / it.key();
      check(fs::exists(p), where + ": checkpoint file " + p.string() + " is missing");
      std::string bytes = read_file(p);
      const uint64_t want = it.value().at("bytes").get<uint64_t>();
      check(bytes.size() == want, p.string() + ": truncated or corrupt checkpoint file (" +
                                      std::to_string(bytes.size()) + " bytes, expected " + std::to_string(want) + ")");
      char hex[17];
      std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)file_hash(bytes));
      check(it.value().at("xxh3_64").get<std::string>() == hex,
            p.string() + ": corrupt checkpoint file (checksum mismatch)");
    }
    ModelConfig mc = ModelConfig::load(dir / "config.json");
    check(mc.to_json() == cfg_.model.to_json(),
          dir.string() + "/config.json: the checkpoint's model shape differs from the configured one");
    model_->load(dir / "model.safetensors");
    AdamW loaded;  // copied to the backend (ZeRO-1: this rank's range of it)
    loaded.load(dir / "optimizer.safetensors", model_->params());
    const int64_t step = st.at("step").get<int64_t>();
    check(step >= 0 && loaded.step_count() == step,
          where + ": step " + std::to_string(step) + " does not match the optimizer's " +
              std::to_string(loaded.step_count()));
    take_moments(loaded);
    if (train_ && !st.at("train_data").is_null()) train_->set_state(st.at("train_data"));
    step_ = step;
    elapsed_before_ = st.value("elapsed", 0.0);
    extra_ = st.value("extra", json());
  } catch (const json::exception& e) {
    throw Error(where + ": malformed train state: " + e.what());
  }
  model_->zero_grad();
}

TrainConfig read_checkpoint_config(const std::filesystem::path& run_dir) {
  const auto p = find_checkpoint(run_dir) / "train_state.json";
  json st = read_json_file(p);
  check(st.is_object() && st.contains("config"), p.string() + ": no saved config");
  return TrainConfig::from_json(st["config"]);
}

}  // namespace veritas
