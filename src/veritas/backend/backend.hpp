#pragma once
// Where a model's tensors live and its kernels run (ggml's backends are the model):
// the CPU (kernels/) or a CUDA GPU (cuda/). model/ and train/ call this interface and
// never include a CUDA header; the CPU stays the reference, and every operation has the
// semantics of its CPU kernel in kernels/kernels.hpp or train/adamw.hpp.
//
// Pointers passed to the operations are the backend's own (device pointers on a GPU);
// only upload/download move data between them and the host. A backend whose memory is
// the host's (`host_memory()`) lets callers skip those copies.
//
//   Backend& be = backend_named("cuda");       // Error saying why when unavailable
//   DeviceBuffer x(be, n * sizeof(float));
//   be.upload(x.get(), host, n * sizeof(float));
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace veritas {

// Sums over the processes of a data-parallel job, on a backend's memory: started while
// the backward pass goes on (in place, over every rank), all finished by wait().
class Collective {
 public:
  virtual ~Collective() = default;
  virtual void start_sum(float* x, int64_t n) = 0;
  virtual void wait() = 0;
  // ZeRO-1 over contiguous ranges, one per rank in rank order: out = the sum over the
  // ranks of in[ranges[rank]]; all_gather fills every rank's range of buf from its owner.
  // Both finish before they return.
  using Ranges = std::vector<std::pair<int64_t, int64_t>>;
  virtual void reduce_scatter(const float* in, float* out, const Ranges& ranges) = 0;
  virtual void all_gather(float* buf, const Ranges& ranges) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;   // "cpu", "cpu-staged", "cuda"
  virtual bool host_memory() const = 0;   // its pointers are ordinary host pointers
  virtual std::string describe() const;   // name and device, for logs

  // ---- memory (bytes); alloc never returns nullptr (throws Error)
  virtual void* alloc(size_t bytes) = 0;
  virtual void release(void* p) = 0;
  virtual void upload(void* dst, const void* src_host, size_t bytes) = 0;
  virtual void download(void* dst_host, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;  // both the backend's
  virtual void zero(void* dst, size_t bytes) = 0;
  virtual void synchronize() {}

  // ---- a training step's kernels (kernels/kernels.hpp)
  // Matrix products in bf16 (inputs rounded to bf16, fp32 sums) instead of fp32: the
  // CPU's --matmul bf16. On the CPU one setting per process (kernels::set_matmul_bf16).
  virtual void set_matmul_bf16(bool on) = 0;
  virtual void matmul_forward(float* out, const float* inp, const float* w, int64_t N, int C, int OC,
                              bool accumulate) = 0;
  virtual void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, int64_t N,
                               int C, int OC, bool accumulate_dinp) = 0;
  virtual void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t N, int C) = 0;
  virtual void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t N, int C) = 0;
  virtual void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N, int C,
                               float eps) = 0;
  virtual void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                                const float* rstd, int64_t N, int C) = 0;
  virtual void rope_forward(float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                            int64_t row_stride) = 0;
  virtual void rope_backward(float* dx, const float* cos_t, const float* sin_t, int B, int T, int n_heads,
                             int head_dim, int64_t row_stride) = 0;
  virtual void attention_forward(float* out, float* probs, const float* qkv, int B, int T, int H, int KVH,
                                 int hd) = 0;
  virtual void attention_backward(float* dqkv, float* probs, const float* dout, const float* out, const float* qkv,
                                  int B, int T, int H, int KVH, int hd) = 0;
  virtual void swiglu_forward(float* out, const float* gu, int64_t N, int I) = 0;
  virtual void swiglu_backward(float* dgu, const float* dout, const float* gu, int64_t N, int I) = 0;
  // Loss and gradient at once; logits become the gradient (kernels::cross_entropy_fused).
  virtual float cross_entropy_fused(float* logits, float* row_loss, const int32_t* targets, const float* mask,
                                    int64_t N, int V, float scale) = 0;
  // The loss alone; `logits` may be overwritten (scratch: N floats).
  virtual float cross_entropy_loss(float* scratch, float* logits, const int32_t* targets, const float* mask,
                                   int64_t N, int V) = 0;
  // Per-token log-probabilities and their backward pass (self-play's losses); lse[N] is
  // kept between them.
  virtual void target_logprobs(float* logp, float* lse, const float* logits, const int32_t* targets, int64_t N,
                               int V) = 0;
  virtual void logprob_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                                const float* dlogp, int64_t N, int V) = 0;

  // ---- inference (infer/device_forward.cpp; kernels/decode.hpp has the semantics)
  virtual void matmul_bf16_weights(float* out, const float* inp, const uint16_t* w, int64_t N, int C, int OC,
                                   bool accumulate) = 0;
  virtual void matmul_q8_weights(float* out, const float* inp, const int8_t* q, const float* scale, int64_t N, int C,
                                 int OC, bool accumulate) = 0;
  virtual void add_bias(float* x, const float* b, int64_t N, int C) = 0;
  virtual void rope_at(float* x, const float* cos_t, const float* sin_t, const int32_t* pos, int64_t N, int n_heads,
                       int head_dim, int64_t row_stride) = 0;
  // dst: the backend's array of N row addresses (themselves the backend's pointers).
  virtual void scatter_rows(void* const* dst, const float* src, int64_t src_stride, int64_t N, int C, bool f16) = 0;
  virtual void attention_cached(float* out, const float* q, int64_t q_stride, const void* const* kbase,
                                const void* const* vbase, const int32_t* pos, int64_t N, int H, int KVH, int hd,
                                int64_t kv_stride, bool f16) = 0;

  // ---- recorded steps (CUDA graphs): the operations called between begin_recording() and
  // end_recording() are kept with their arguments instead of run, and replay(id) runs them
  // again, in order (on a GPU one launch instead of one per kernel). Nothing but operations
  // in between (no memory call); the data they read is read at each replay, so a caller
  // changes inputs by uploading into the same buffers. can_record(): whether this backend
  // records (cuda, and cpu-staged so that the callers' recording is tested on any machine).
  // replay returns false, and forgets the recording, when it went stale (the backend moved
  // a scratch buffer it used since): the caller runs the operations again and may record
  // anew. Record a step only after running it once (its scratch and plans then exist).
  virtual bool can_record() const { return false; }
  virtual void begin_recording();
  virtual int end_recording();
  virtual bool replay(int id);
  virtual void forget_recording(int id);

  // ---- the optimizer (train/adamw.hpp), per tensor
  // Sum of x[i]^2 in double, in a fixed order (bit-identical run to run).
  virtual double sum_squares(const float* x, int64_t n) = 0;
  virtual void scale(float* x, int64_t n, float s) = 0;  // x *= s
  virtual void adamw_update(float* w, const float* g, float* m, float* v, int64_t n, bool decay, float lr,
                            double beta1, double beta2, double eps, double weight_decay, int64_t t) = 0;

  // ---- data parallelism: one process per rank, one device each
  // Whether the host can read and write this backend's pointers (then the host's own
  // collectives, MPI, sum them).
  virtual bool host_addressable() const { return host_memory(); }
  // A collective over `ranks` processes for memory the host cannot address (NCCL on
  // CUDA); `share` hands rank 0's bytes to every rank (the caller's MPI broadcast).
  // nullptr for host-addressable backends.
  virtual std::unique_ptr<Collective> collective(int ranks, int rank,
                                                 const std::function<void(void* bytes, size_t n)>& share);
};

// The CPU: host memory, kernels/ (the reference).
Backend& cpu_backend();
// The CPU's kernels on memory of its own, reached only through upload/download as a
// GPU's would be: the device code path (model, trainer) tested on any machine. Its
// results are the CPU's bit for bit.
Backend& cpu_staged_backend();
// A CUDA GPU: device 0, or under mpirun / srun the one of this process's local rank.
// Throws Error saying why there is none (built without CUDA, no driver, no device).
Backend& cuda_backend();
// "cpu", "cpu-staged" or "cuda" (Error naming the choices otherwise).
Backend& backend_named(const std::string& device);

// Owns one allocation of a backend.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend& be, size_t bytes) : be_(&be), p_(be.alloc(bytes)) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : be_(o.be_), p_(o.p_) { o.p_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      be_ = o.be_, p_ = o.p_, o.p_ = nullptr;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return p_; }
  float* floats() const { return static_cast<float*>(p_); }
  void reset() {
    if (p_) be_->release(p_);
    p_ = nullptr;
  }

 private:
  Backend* be_ = nullptr;
  void* p_ = nullptr;
};

}  // namespace veritas
