#pragma once
// Progress bar on stderr: done/total, rate, ETA and a caller-supplied status text
// (loss, tokens/s ...). Redraws in place on a terminal; prints a line every few seconds
// otherwise (logs, CI). Silent when VERITAS_QUIET=1.
#include <cstdint>
#include <string>

#include "veritas/util/timer.hpp"

namespace veritas {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "it");
  ~Progress();
  void update(int64_t done, const std::string& status = "");
  void add(int64_t n = 1, const std::string& status = "") { update(done_ + n, status); }
  void finish(const std::string& status = "");
  double elapsed() const { return timer_.seconds(); }

 private:
  void draw(bool final);
  std::string label_, unit_, status_;
  int64_t total_, done_ = 0;
  Timer timer_;
  double last_draw_ = -1;
  bool tty_, quiet_, finished_ = false;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"

}  // namespace veritas
