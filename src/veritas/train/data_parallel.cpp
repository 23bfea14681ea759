// The Trainer's data-parallel parts (train/dist.hpp, docs/scale.md): summing the
// gradients over the ranks, and ZeRO-1, which shards AdamW's moments: the ranks
// reduce-scatter the gradients, each updates its range of the flat parameter vector
// with its moments, and an all-gather hands every rank the whole updated model.
#include <algorithm>
#include <cmath>

#include "veritas/train/dist.hpp"
#include "veritas/train/trainer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/timer.hpp"

namespace veritas {

namespace {
int64_t flat_size(const std::vector<Param>& ps) {
  int64_t n = 0;
  for (const auto& p : ps) n += p.size;
  return n;
}
}  // namespace

void Trainer::start_bucket_sum(size_t first, size_t end) {
  auto& ps = model_->params();
  float* x = ps[first].dev_grad;  // the gradients the kernels wrote: the host's on the CPU
  const int64_t n = ps[end - 1].dev_grad + ps[end - 1].size - x;
  if (coll_) {
    coll_->start_sum(x, n);
  } else {
    dist_->start_sum(x, n);
    dist_->progress();
  }
}

void Trainer::wait_sums() {
  if (coll_) coll_->wait();
  dist_->wait();
}

void Trainer::reduce_all_gradients() {
  // The buckets and their order are those of Model::set_grad_ready_hook, so every rank
  // issues the same reductions whether or not its backward pass ran.
  const size_t L = (size_t)cfg_.model.num_hidden_layers;
  start_bucket_sum(1 + 9 * L, model_->params().size());
  for (size_t l = L; l-- > 0;) start_bucket_sum(1 + 9 * l, 10 + 9 * l);
  start_bucket_sum(0, 1);
}

void Trainer::overlap_gradient_sums() {
  if (!dist_->multi() || cfg_.zero) return;
  overlap_buckets_ = 0;
  model_->set_grad_ready_hook([this](size_t first, size_t end) {
    start_bucket_sum(first, end);
    ++overlap_buckets_;
  });
}

double Trainer::sum_gradients() {
  if (!dist_->multi() || cfg_.zero) return 0;
  model_->set_grad_ready_hook(nullptr);
  Timer t;
  // The same buckets in the same order, whether the hook started them or not.
  if (overlap_buckets_ == 0) reduce_all_gradients();
  overlap_buckets_ = 0;
  wait_sums();
  return t.seconds();
}

// ZeRO-1 on the model's backend: the shards (m_ and v_ hold this rank's range of the
// moments; zg_ its part of the summed gradients) live where the weights do, and one code path serves the CPU and devices — the backend's sum of squares,
// scaling and AdamW; MPI's reduce-scatter and all-gather on host-addressable memory, else
// the backend's collective (NCCL).
void Trainer::zero_init() {
  Backend& be = model_->backend();
  auto [b, e] = dist_->range(flat_size(model_->params()), dist_->rank());
  zb_ = b, ze_ = e;
  const size_t bytes = sizeof(float) * (size_t)std::max<int64_t>(e - b, 1);
  m_ = DeviceBuffer(be, bytes), v_ = DeviceBuffer(be, bytes), zg_ = DeviceBuffer(be, bytes);
  be.zero(m_.get(), bytes), be.zero(v_.get(), bytes), be.zero(zg_.get(), bytes);
}

std::vector<std::pair<int64_t, int64_t>> Trainer::zero_ranges(int64_t n) const {
  std::vector<std::pair<int64_t, int64_t>> r;
  for (int k = 0; k < dist_->size(); ++k) r.push_back(dist_->range(n, k));
  return r;
}

void Trainer::zero_update(float lr, double& grad_norm) {
  Backend& be = model_->backend();
  auto& ps = model_->params();
  const int64_t n = flat_size(ps), len = ze_ - zb_;
  float *weights = ps[0].dev_data, *zg = zg_.floats();
  Timer comm;
  if (coll_) coll_->reduce_scatter(ps[0].dev_grad, zg, zero_ranges(n));
  else if (dist_->multi()) dist_->reduce_scatter(ps[0].dev_grad, zg, n);  // host-addressable memory
  else be.copy(zg, ps[0].dev_grad, sizeof(float) * n);                     // one rank: its range is all
  zero_comm_ = comm.seconds();
  // The global norm from each rank's sum of squares of its range (double, fixed order).
  double ss = be.sum_squares(zg, len);
  dist_->sum(&ss, 1);
  grad_norm = std::sqrt(ss);
  check(std::isfinite(grad_norm), "gradient norm is not finite at step " + std::to_string(step_ + 1));
  if (cfg_.clip > 0 && grad_norm > cfg_.clip)  // as update()
    be.scale(zg, len, (float)(cfg_.clip / (grad_norm + 1e-6)));
  ++t_;
  const AdamWConfig& a = cfg_.adamw;
  int64_t off = 0;
  for (auto& p : ps) {
    const int64_t lo = std::max(off, zb_), hi = std::min(off + p.size, ze_);
    if (lo < hi) {
      const int64_t k = lo - zb_;
      be.adamw_update(weights + lo, zg + k, m_.floats() + k, v_.floats() + k, hi - lo, adamw_decays(p), lr,
                      a.beta1, a.beta2, a.eps, a.weight_decay, t_);
    }
    off += p.size;
  }
  comm.reset();
  if (coll_) coll_->all_gather(weights, zero_ranges(n));
  else if (dist_->multi()) dist_->all_gather(weights, n);
  zero_comm_ += comm.seconds();
}

void Trainer::zero_gather(std::vector<float>& m, std::vector<float>& v) {
  const int64_t n = flat_size(model_->params());
  const bool root = dist_->rank() == 0;
  m.assign(root ? (size_t)n : 0, 0.0f);
  v.assign(root ? (size_t)n : 0, 0.0f);
  std::vector<float> hm, hv;  // the shards on the host, for MPI
  const float *pm, *pv;
  host_moments(hm, hv, pm, pv);
  dist_->gather(pm, m.data(), n, 0);
  dist_->gather(pv, v.data(), n, 0);
}

void Trainer::take_moments(const AdamW& full) {
  Backend& be = model_->backend();
  auto& ps = model_->params();
  int64_t off = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    const int64_t lo = std::max(off, zb_), hi = std::min(off + ps[i].size, ze_);
    if (lo < hi) {
      const size_t bytes = sizeof(float) * (size_t)(hi - lo);
      be.upload(m_.floats() + (lo - zb_), full.m()[i].data() + (lo - off), bytes);
      be.upload(v_.floats() + (lo - zb_), full.v()[i].data() + (lo - off), bytes);
    }
    off += ps[i].size;
  }
  t_ = full.step_count();
}

}  // namespace veritas
