// The CUDA backend: cuda/ops.hpp's kernels on this process's GPU (device 0, or its local rank's). Built
// only with CUDA (VERITAS_HAVE_CUDA); otherwise cuda_backend() says so.
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "veritas/backend/backend.hpp"
#include "veritas/util/error.hpp"

#if VERITAS_HAVE_CUDA
#include "veritas/cuda/ops.hpp"
#endif

namespace veritas {

#if VERITAS_HAVE_CUDA
namespace {

class NcclCollective final : public Collective {
 public:
  NcclCollective(void* comm, int rank) : comm_(comm), rank_(rank) {}
  void start_sum(float* x, int64_t n) override { cuda::nccl_start_sum(comm_, x, n); }
  void wait() override { cuda::nccl_wait(comm_); }
  void reduce_scatter(const float* in, float* out, const Ranges& ranges) override {
    std::vector<int64_t> b, e;
    split(ranges, b, e);
    cuda::nccl_reduce_scatter(comm_, in, out, b.data(), e.data(), (int)ranges.size(), rank_);
  }
  void all_gather(float* buf, const Ranges& ranges) override {
    std::vector<int64_t> b, e;
    split(ranges, b, e);
    cuda::nccl_all_gather(comm_, buf, b.data(), e.data(), (int)ranges.size());
  }

 private:
  void* comm_;
  int rank_;
  static void split(const Ranges& r, std::vector<int64_t>& b, std::vector<int64_t>& e) {
    for (const auto& [lo, hi] : r) b.push_back(lo), e.push_back(hi);
  }
};

// A data-parallel rank's GPU: its local rank on this node (mpirun, srun, hydra), modulo
// the devices it sees; 0 without a launcher.
int local_device(int devices) {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"})
    if (const char* v = std::getenv(var)) return std::atoi(v) % devices;
  return 0;
}

class CudaBackend final : public Backend {
 public:
  CudaBackend() : norm_scratch_(alloc(sizeof(double) * cuda::kSumSquaresScratch)) {}
  std::string name() const override { return "cuda"; }
  bool host_memory() const override { return false; }
  std::string describe() const override { return cuda::summary(); }

  void* alloc(size_t bytes) override { return cuda::alloc(bytes ? bytes : 1); }
  void release(void* p) override {
    try {
      cuda::free(p);
    } catch (const Error&) {
      // A failed free (a device already in error) must not escape a destructor.
    }
  }
  void upload(void* dst, const void* src, size_t bytes) override {
    if (bytes) cuda::copy_to_device(dst, src, bytes);
  }
  void download(void* dst, const void* src, size_t bytes) override {
    if (bytes) cuda::copy_to_host(dst, src, bytes);
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    if (dst != src) cuda::copy_on_device(dst, src, bytes);
  }
  void zero(void* dst, size_t bytes) override { cuda::zero(dst, bytes); }
  void synchronize() override { cuda::synchronize(); }

  void set_matmul_bf16(bool on) override { bf16_ = on; }

  bool can_record() const override { return true; }
  void begin_recording() override {
    check(stream_ == nullptr, "begin_recording: already recording");
    if (!capture_stream_) capture_stream_ = cuda::stream_create();
    cuda::capture_begin(capture_stream_);
    stream_ = capture_stream_;
  }
  int end_recording() override {
    check(stream_ != nullptr, "end_recording: not recording");
    stream_ = nullptr;
    graphs_.push_back({cuda::capture_end(capture_stream_), scratch_generation_});
    return (int)graphs_.size() - 1;
  }
  bool replay(int id) override {
    check(id >= 0 && id < (int)graphs_.size() && graphs_[id].first, "replay: no recording " + std::to_string(id));
    if (graphs_[id].second != scratch_generation_) {
      forget_recording(id);
      return false;
    }
    cuda::graph_launch(graphs_[id].first, capture_stream_);
    return true;
  }
  void forget_recording(int id) override {
    if (id < 0 || id >= (int)graphs_.size()) return;
    cuda::graph_destroy(graphs_[id].first);
    graphs_[id].first = nullptr;
  }
  void matmul_forward(float* out, const float* inp, const float* w, int64_t N, int C, int OC,
                      bool accumulate) override {
    cuda::matmul_forward(out, inp, w, N, C, OC, accumulate, bf16_scratch(N, C, OC), stream_);
  }
  void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, int64_t N, int C,
                       int OC, bool accumulate_dinp) override {
    cuda::matmul_backward(dinp, dw, dout, inp, w, N, C, OC, accumulate_dinp, bf16_scratch(N, C, OC), stream_);
  }
  void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t N, int C) override {
    cuda::embedding_forward(out, tokens, table, N, C, stream_);
  }
  void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t N, int C) override {
    cuda::embedding_backward(dtable, dout, tokens, N, C, stream_);
  }
  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N, int C,
                       float eps) override {
    cuda::rmsnorm_forward(out, rstd, inp, w, N, C, eps, stream_);
  }
  void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, const float* rstd,
                        int64_t N, int C) override {
    cuda::rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C, stream_);
  }
  void rope_forward(float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                    int64_t row_stride) override {
    cuda::rope_forward(x, cos_t, sin_t, B, T, n_heads, head_dim, row_stride, stream_);
  }
  void rope_backward(float* dx, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                     int64_t row_stride) override {
    cuda::rope_backward(dx, cos_t, sin_t, B, T, n_heads, head_dim, row_stride, stream_);
  }
  void attention_forward(float* out, float* probs, const float* qkv, int B, int T, int H, int KVH,
                         int hd) override {
    cuda::attention_forward(out, probs, qkv, B, T, H, KVH, hd, stream_);
  }
  void attention_backward(float* dqkv, float* probs, const float* dout, const float* out, const float* qkv, int B,
                          int T, int H, int KVH, int hd) override {
    cuda::attention_backward(dqkv, probs, dout, out, qkv, B, T, H, KVH, hd, stream_);
  }
  void swiglu_forward(float* out, const float* gu, int64_t N, int I) override { cuda::swiglu_forward(out, gu, N, I, stream_); }
  void swiglu_backward(float* dgu, const float* dout, const float* gu, int64_t N, int I) override {
    cuda::swiglu_backward(dgu, dout, gu, N, I, stream_);
  }
  float cross_entropy_fused(float* logits, float* row_loss, const int32_t* targets, const float* mask, int64_t N,
                            int V, float scale) override {
    return cuda::cross_entropy_fused(logits, row_loss, targets, mask, N, V, scale, stream_);
  }
  float cross_entropy_loss(float* scratch, float* logits, const int32_t* targets, const float* mask, int64_t N,
                           int V) override {
    return cuda::cross_entropy_fused(logits, scratch, targets, mask, N, V, 0.0f, stream_);  // the gradient is not kept
  }
  void target_logprobs(float* logp, float* lse, const float* logits, const int32_t* targets, int64_t N,
                       int V) override {
    cuda::target_logprobs(logp, lse, logits, targets, N, V, stream_);
  }
  void logprob_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                        const float* dlogp, int64_t N, int V) override {
    cuda::logprob_backward(dlogits, logits, lse, targets, dlogp, N, V, stream_);
  }

  void matmul_bf16_weights(float* out, const float* inp, const uint16_t* w, int64_t N, int C, int OC,
                           bool accumulate) override {
    cuda::matmul_bf16_weights(out, inp, w, N, C, OC, accumulate,
                              scratch(sizeof(uint16_t) * (size_t)cuda::matmul_bf16_scratch(N, C, 0)), stream_);
  }
  void matmul_q8_weights(float* out, const float* inp, const int8_t* q, const float* scale, int64_t N, int C, int OC,
                         bool accumulate) override {
    cuda::matmul_q8_weights(out, inp, q, scale, N, C, OC, accumulate, stream_);
  }
  void add_bias(float* x, const float* b, int64_t N, int C) override { cuda::add_bias(x, b, N, C, stream_); }
  void rope_at(float* x, const float* cos_t, const float* sin_t, const int32_t* pos, int64_t N, int n_heads,
               int head_dim, int64_t row_stride) override {
    cuda::rope_at(x, cos_t, sin_t, pos, N, n_heads, head_dim, row_stride, stream_);
  }
  void scatter_rows(void* const* dst, const float* src, int64_t src_stride, int64_t N, int C, bool f16) override {
    cuda::scatter_rows(dst, src, src_stride, N, C, f16, stream_);
  }
  void attention_cached(float* out, const float* q, int64_t q_stride, const void* const* kbase,
                        const void* const* vbase, const int32_t* pos, int64_t N, int H, int KVH, int hd,
                        int64_t kv_stride, bool f16) override {
    cuda::attention_cached(out, q, q_stride, kbase, vbase, pos, N, H, KVH, hd, kv_stride, f16, stream_);
  }
  double sum_squares(const float* x, int64_t n) override {
    return cuda::sum_squares(x, n, static_cast<double*>(norm_scratch_), stream_);
  }
  void scale(float* x, int64_t n, float s) override { cuda::scale(x, n, s, stream_); }
  void adamw_update(float* w, const float* g, float* m, float* v, int64_t n, bool decay, float lr, double beta1,
                    double beta2, double eps, double weight_decay, int64_t t) override {
    cuda::adamw_update(w, g, m, v, n, decay, lr, beta1, beta2, eps, weight_decay, t, stream_);
  }

  std::unique_ptr<Collective> collective(int ranks, int rank,
                                         const std::function<void(void*, size_t)>& share) override {
    char id[cuda::kNcclIdBytes] = {};
    if (rank == 0) cuda::nccl_unique_id(id);
    share(id, sizeof id);
    return std::make_unique<NcclCollective>(cuda::nccl_init(id, ranks, rank), rank);
  }

 private:
  // Recordings: CUDA graphs captured on capture_stream_ (stream_ while recording; nullptr,
  // the default stream, otherwise), each with the scratch generation it was made with:
  // a recorded product holds the scratch's address, so once the scratch has grown (moved)
  // the recordings made before are stale (replay says so).
  void* stream_ = nullptr;
  void* capture_stream_ = nullptr;
  std::vector<std::pair<void*, int>> graphs_;

  void* norm_scratch_;  // sum_squares' partial sums (never freed: the backend lives as long as the process)
  bool bf16_ = false;
  // The bf16 copies of a product's inputs (for bf16-weight products, of its activations),
  // grown to the largest product. Kernels run in order on one stream at a time, so one
  // scratch serves every product.
  DeviceBuffer scratch_;
  size_t scratch_bytes_ = 0;
  int scratch_generation_ = 0;
  // nullptr for fp32 products.
  uint16_t* bf16_scratch(int64_t N, int C, int OC) {
    if (!bf16_) return nullptr;
    return scratch(sizeof(uint16_t) * (size_t)cuda::matmul_bf16_scratch(N, C, OC));
  }
  uint16_t* scratch(size_t need) {
    if (need > scratch_bytes_) {
      check(stream_ == nullptr, "a product being recorded needs more scratch than the last run of the same step");
      scratch_.reset();
      scratch_ = DeviceBuffer(*this, need);
      scratch_bytes_ = need;
      ++scratch_generation_;
    }
    return static_cast<uint16_t*>(scratch_.get());
  }
};

}  // namespace

Backend& cuda_backend() {
  static std::once_flag once;
  static std::unique_ptr<CudaBackend> be;
  std::call_once(once, [] {
    std::string why;
    const int n = cuda::device_count(&why);
    if (n == 0) return;
    cuda::set_device(local_device(n));
    be = std::make_unique<CudaBackend>();
  });
  if (!be) {
    std::string why;
    cuda::device_count(&why);
    throw Error("--device cuda: no usable GPU (" + why + ")");
  }
  return *be;
}

#else

Backend& cuda_backend() {
  throw Error("--device cuda: this veritas was built without CUDA (no nvcc at build time; rebuild with the CUDA "
              "toolkit installed, or -DVERITAS_CUDA=ON)");
}

#endif

}  // namespace veritas
