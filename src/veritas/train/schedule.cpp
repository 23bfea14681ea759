#include "veritas/train/schedule.hpp"

#include <cmath>

namespace veritas {

double LrSchedule::lr_at(int64_t step) const {
  if (step < warmup) return lr * (double)(step + 1) / (double)warmup;
  if (step >= total || total <= warmup) return min_lr;
  const double ratio = (double)(step - warmup) / (double)(total - warmup);  // [0, 1)
  const double coeff = 0.5 * (1.0 + std::cos(M_PI * ratio));                  // 1 -> 0
  return min_lr + coeff * (lr - min_lr);
}

}  // namespace veritas
