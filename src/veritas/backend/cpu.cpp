// The CPU backend: kernels/ on host memory. The staged variant runs the same kernels but
// presents itself as a device (callers upload and download), so the device code path is
// tested here bit for bit against the plain CPU path.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "veritas/backend/backend.hpp"
#include "veritas/kernels/decode.hpp"
#include "veritas/kernels/kernels.hpp"
#include "veritas/kernels/optimizer.hpp"
#include "veritas/util/error.hpp"

namespace veritas {

namespace k = kernels;

std::string Backend::describe() const { return name(); }

void Backend::begin_recording() { throw Error("the " + name() + " backend cannot record operations"); }
int Backend::end_recording() { throw Error("the " + name() + " backend cannot record operations"); }
bool Backend::replay(int) { throw Error("the " + name() + " backend cannot record operations"); }
void Backend::forget_recording(int) {}

std::unique_ptr<Collective> Backend::collective(int, int, const std::function<void(void*, size_t)>&) {
  check(host_addressable(), "the " + name() + " backend has no collective for several processes");
  return nullptr;
}

namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(bool staged) : staged_(staged) {}
  std::string name() const override { return staged_ ? "cpu-staged" : "cpu"; }
  bool host_memory() const override { return !staged_; }
  bool host_addressable() const override { return true; }  // staged memory is host memory too

  void* alloc(size_t bytes) override {
    not_recording("alloc");
    // 64-byte aligned and left uninitialized: pages never touched cost no memory.
    const size_t n = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, n);
    if (!p) throw Error("out of memory allocating " + std::to_string(n) + " bytes");
    return p;
  }
  void release(void* p) override { std::free(p); }
  void upload(void* dst, const void* src, size_t bytes) override { copy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { copy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override {
    not_recording("copy");
    if (bytes && dst != src) std::memcpy(dst, src, bytes);
  }
  void zero(void* dst, size_t bytes) override {
    not_recording("zero");
    if (bytes) std::memset(dst, 0, bytes);
  }

  // The staged backend records as a GPU does (the operations' closures, replayed in order).
  bool can_record() const override { return staged_; }
  void begin_recording() override {
    check(staged_, "the cpu backend does not record operations");
    check(!recording_, "begin_recording: already recording");
    recording_ = true;
    steps_.emplace_back();
  }
  int end_recording() override {
    check(recording_, "end_recording: not recording");
    recording_ = false;
    return (int)steps_.size() - 1;
  }
  bool replay(int id) override {
    check(id >= 0 && id < (int)steps_.size(), "replay: no recording " + std::to_string(id));
    for (const auto& f : steps_[id]) f();
    return true;
  }
  void forget_recording(int id) override {
    if (id >= 0 && id < (int)steps_.size()) steps_[id].clear();
  }

  void set_matmul_bf16(bool on) override { k::set_matmul_bf16(on); }
  void matmul_forward(float* out, const float* inp, const float* w, int64_t N, int C, int OC,
                      bool accumulate) override {
    run([=] { k::matmul_forward(out, inp, w, N, C, OC, accumulate); });
  }
  void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, int64_t N, int C,
                       int OC, bool accumulate_dinp) override {
    k::matmul_backward(dinp, dw, dout, inp, w, N, C, OC, accumulate_dinp);
  }
  void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t N, int C) override {
    k::embedding_forward(out, tokens, table, N, C);
  }
  void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t N, int C) override {
    k::embedding_backward(dtable, dout, tokens, N, C);
  }
  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N, int C,
                       float eps) override {
    run([=] { k::rmsnorm_forward(out, rstd, inp, w, N, C, eps); });
  }
  void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, const float* rstd,
                        int64_t N, int C) override {
    k::rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C);
  }
  void rope_forward(float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                    int64_t row_stride) override {
    k::rope_forward(x, cos_t, sin_t, B, T, n_heads, head_dim, row_stride);
  }
  void rope_backward(float* dx, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int head_dim,
                     int64_t row_stride) override {
    k::rope_backward(dx, cos_t, sin_t, B, T, n_heads, head_dim, row_stride);
  }
  void attention_forward(float* out, float* probs, const float* qkv, int B, int T, int H, int KVH,
                         int hd) override {
    k::attention_forward(out, probs, qkv, B, T, H, KVH, hd);
  }
  void attention_backward(float* dqkv, float* probs, const float* dout, const float* out, const float* qkv, int B,
                          int T, int H, int KVH, int hd) override {
    k::attention_backward(dqkv, probs, dout, out, qkv, B, T, H, KVH, hd);
  }
  void swiglu_forward(float* out, const float* gu, int64_t N, int I) override {
    run([=] { k::swiglu_forward(out, gu, N, I); });
  }
  void swiglu_backward(float* dgu, const float* dout, const float* gu, int64_t N, int I) override {
    k::swiglu_backward(dgu, dout, gu, N, I);
  }
  float cross_entropy_fused(float* logits, float* row_loss, const int32_t* targets, const float* mask, int64_t N,
                            int V, float scale) override {
    return k::cross_entropy_fused(logits, row_loss, targets, mask, N, V, scale);
  }
  float cross_entropy_loss(float* scratch, float* logits, const int32_t* targets, const float* mask, int64_t N,
                           int V) override {
    return k::cross_entropy_forward(scratch, logits, targets, mask, N, V);
  }
  void target_logprobs(float* logp, float* lse, const float* logits, const int32_t* targets, int64_t N,
                       int V) override {
    k::cross_entropy_forward(lse, logits, targets, nullptr, N, V);
    k::target_logprobs(logp, logits, lse, targets, N, V);
  }
  void logprob_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                        const float* dlogp, int64_t N, int V) override {
    k::logprob_backward(dlogits, logits, lse, targets, dlogp, N, V);
  }

  void matmul_bf16_weights(float* out, const float* inp, const uint16_t* w, int64_t N, int C, int OC,
                           bool accumulate) override {
    run([=] { k::matmul_bf16_weights(out, inp, w, N, C, OC, accumulate); });
  }
  void matmul_q8_weights(float* out, const float* inp, const int8_t* q, const float* scale, int64_t N, int C, int OC,
                         bool accumulate) override {
    run([=] { k::matmul_q8_weights(out, inp, q, scale, N, C, OC, accumulate); });
  }
  void add_bias(float* x, const float* b, int64_t N, int C) override {
    run([=] { k::add_bias(x, b, N, C); });
  }
  void rope_at(float* x, const float* cos_t, const float* sin_t, const int32_t* pos, int64_t N, int n_heads,
               int head_dim, int64_t row_stride) override {
    run([=] { k::rope_at(x, cos_t, sin_t, pos, N, n_heads, head_dim, row_stride); });
  }
  void scatter_rows(void* const* dst, const float* src, int64_t src_stride, int64_t N, int C, bool f16) override {
    run([=] { k::scatter_rows(dst, src, src_stride, N, C, f16); });
  }
  void attention_cached(float* out, const float* q, int64_t q_stride, const void* const* kbase,
                        const void* const* vbase, const int32_t* pos, int64_t N, int H, int KVH, int hd,
                        int64_t kv_stride, bool f16) override {
    run([=] { k::attention_cached(out, q, q_stride, kbase, vbase, pos, N, H, KVH, hd, kv_stride, f16); });
  }
  double sum_squares(const float* x, int64_t n) override { return k::sum_squares(x, n); }
  void scale(float* x, int64_t n, float s) override { k::scale(x, n, s); }
  void adamw_update(float* w, const float* g, float* m, float* v, int64_t n, bool decay, float lr, double beta1,
                    double beta2, double eps, double weight_decay, int64_t t) override {
    k::adamw_update(w, g, m, v, n, decay, lr, beta1, beta2, eps, weight_decay, t);
  }

 private:
  bool staged_;
  // Recording: operations that inference records run through run(); the rest of a
  // training step is never recorded, and memory calls refuse while recording.
  bool recording_ = false;
  std::vector<std::vector<std::function<void()>>> steps_;
  template <class F>
  void run(F&& f) {
    if (recording_)
      steps_.back().emplace_back(std::forward<F>(f));
    else
      f();
  }
  void not_recording(const char* what) const {
    check(!recording_, std::string(what) + " while recording operations");
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend be(false);
  return be;
}

Backend& cpu_staged_backend() {
  static CpuBackend be(true);
  return be;
}

Backend& backend_named(const std::string& device) {
  if (device == "cpu") return cpu_backend();
  if (device == "cpu-staged") return cpu_staged_backend();
  if (device == "cuda") return cuda_backend();
  throw Error("unknown device \"" + device + "\" (expected cpu or cuda; cpu-staged runs the device path on the CPU)");
}

}  // namespace veritas
