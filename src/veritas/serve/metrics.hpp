#pragma once
// Server counters, exposed at /metrics in Prometheus' text format (docs/serve.md).
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "veritas/serve/scheduler.hpp"

namespace veritas::serve {

class Metrics {
 public:
  Metrics();
  void request(const std::string& endpoint, int status);
  void rejected(const std::string& reason);  // auth, rate_limit, queue_full, invalid, too_large, draining
  void finished(int prompt_tokens, int completion_tokens, double ttft_s, double queue_s, double total_s);
  // The exposition text; stats from the scheduler, joules from the energy meter (may be empty).
  std::string render(const SchedulerStats& s, int slots, const std::function<double()>& joules);

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bound, plus +Inf
    double sum = 0;
    uint64_t n = 0;
    void add(double v);
    void write(std::string& out, const std::string& name, const std::string& help) const;
  };
  std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> rejected_;
  uint64_t prompt_tokens_ = 0, completion_tokens_ = 0;
  Histogram ttft_, queue_, total_;
  double start_;
  // Generated tokens per second over the last window, for the tokens/s gauge.
  std::vector<std::pair<double, uint64_t>> window_;
};

double now_seconds();  // steady clock, seconds

}  // namespace veritas::serve
