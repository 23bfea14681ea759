#pragma once
// Learning-rate schedule: linear warmup from lr/warmup to lr over `warmup` steps, then
// cosine decay to min_lr at step `total` (and min_lr after it).
#include <cstdint>

namespace veritas {

struct LrSchedule {
  double lr = 3e-4;
  double min_lr = 3e-5;
  int64_t warmup = 0;
  int64_t total = 1000;
  // step counts from 0 (the first update uses lr_at(0)).
  double lr_at(int64_t step) const;
};

}  // namespace veritas
