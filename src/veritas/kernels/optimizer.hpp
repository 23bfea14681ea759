#pragma once
// The optimizer's per-tensor kernels on the CPU (train/adamw.hpp builds AdamW and the
// gradient norm from them; backend/ offers them to the device code path). Each element
// is independent, so results do not depend on threading.
#include <cstdint>

namespace veritas::kernels {

// AdamW's scalars for step t (bias corrections in double like torch's Python floats,
// applied as floats).
struct AdamWScalars {
  float b1, b2, omb1, omb2, eps, bc2_sqrt, step_size;
};
AdamWScalars adamw_scalars(double beta1, double beta2, double eps, float lr, int64_t t);
// Updates elements [b, e) of one tensor; decay = 1 - lr * weight_decay, or 1.
void adamw_range(float* w, const float* g, float* m, float* v, int64_t b, int64_t e, float decay,
                 const AdamWScalars& s);
// A whole tensor at step t (>= 1), over the thread pool when it is large.
void adamw_update(float* w, const float* g, float* m, float* v, int64_t n, bool decay, float lr, double beta1,
                  double beta2, double eps, double weight_decay, int64_t t);

// Sum of x[i]^2 in double over fixed blocks added in order: the same bits for any
// thread count.
double sum_squares(const float* x, int64_t n);
// x *= s
void scale(float* x, int64_t n, float s);

}  // namespace veritas::kernels
