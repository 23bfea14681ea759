#include "veritas/serve/metrics.hpp"

#include <chrono>
#include <cstdio>

namespace veritas::serve {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

namespace {
std::vector<double> latency_bounds() { return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}; }
std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}
}  // namespace

Metrics::Metrics() : start_(now_seconds()) {
  for (Histogram* h : {&ttft_, &queue_, &total_}) {
    h->bounds = latency_bounds();
    h->counts.assign(h->bounds.size() + 1, 0);
  }
}

void Metrics::Histogram::add(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++n;
}

void Metrics::Histogram::write(std::string& out, const std::string& name, const std::string& help) const {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cum += counts[i];
    out += name + "_bucket{le=\"" + num(bounds[i]) + "\"} " + std::to_string(cum) + "\n";
  }
  cum += counts.back();
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cum) + "\n";
  out += name + "_sum " + num(sum) + "\n" + name + "_count " + std::to_string(n) + "\n";
}

void Metrics::request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lk(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::rejected(const std::string& reason) {
  std::lock_guard<std::mutex> lk(mu_);
  ++rejected_[reason];
}

void Metrics::finished(int prompt_tokens, int completion_tokens, double ttft_s, double queue_s, double total_s) {
  std::lock_guard<std::mutex> lk(mu_);
  prompt_tokens_ += prompt_tokens;
  completion_tokens_ += completion_tokens;
  if (completion_tokens > 0) ttft_.add(ttft_s);
  queue_.add(queue_s);
  total_.add(total_s);
}

std::string Metrics::render(const SchedulerStats& s, int slots, const std::function<double()>& joules) {
  std::lock_guard<std::mutex> lk(mu_);
  const double now = now_seconds();
  // tokens/s over the last 10 s: keep (time, generated) samples taken at each scrape.
  window_.push_back({now, s.generated_tokens});
  while (window_.size() > 1 && now - window_.front().first > 10) window_.erase(window_.begin());
  double tps = 0;
  if (window_.size() > 1 && now > window_.front().first)
    tps = (double)(window_.back().second - window_.front().second) / (now - window_.front().first);
  std::string o;
  o += "# HELP veritas_requests_total HTTP requests by endpoint and status.\n# TYPE veritas_requests_total counter\n";
  for (auto& [k, v] : requests_)
    o += "veritas_requests_total{endpoint=\"" + k.first + "\",status=\"" + std::to_string(k.second) + "\"} " +
         std::to_string(v) + "\n";
  o += "# HELP veritas_rejected_total Requests refused, by reason.\n# TYPE veritas_rejected_total counter\n";
  for (auto& [k, v] : rejected_) o += "veritas_rejected_total{reason=\"" + k + "\"} " + std::to_string(v) + "\n";
  o += "# HELP veritas_prompt_tokens_total Prompt tokens of finished requests.\n# TYPE veritas_prompt_tokens_total counter\n";
  o += "veritas_prompt_tokens_total " + std::to_string(prompt_tokens_) + "\n";
  o += "# HELP veritas_generation_tokens_total Generated tokens of finished requests.\n# TYPE veritas_generation_tokens_total counter\n";
  o += "veritas_generation_tokens_total " + std::to_string(completion_tokens_) + "\n";
  o += "# HELP veritas_prompt_tokens_cached_total Prompt tokens served from a slot's cached prefix.\n"
       "# TYPE veritas_prompt_tokens_cached_total counter\n";
  o += "veritas_prompt_tokens_cached_total " + std::to_string(s.cached_prompt_tokens) + "\n";
  ttft_.write(o, "veritas_time_to_first_token_seconds", "Time from arrival to the first generated token.");
  queue_.write(o, "veritas_queue_seconds", "Time a job waited for a slot.");
  total_.write(o, "veritas_request_seconds", "Time from arrival to the end of generation.");
  o += "# HELP veritas_tokens_per_second Generated tokens per second over the last 10 s of scrapes.\n"
       "# TYPE veritas_tokens_per_second gauge\nveritas_tokens_per_second " + num(tps) + "\n";
  o += "# HELP veritas_slots_busy Slots generating now.\n# TYPE veritas_slots_busy gauge\nveritas_slots_busy " +
       std::to_string(s.busy_slots) + "\n";
  o += "# HELP veritas_slots Slots (--parallel).\n# TYPE veritas_slots gauge\nveritas_slots " + std::to_string(slots) + "\n";
  o += "# HELP veritas_queue_length Jobs waiting for a slot.\n# TYPE veritas_queue_length gauge\nveritas_queue_length " +
       std::to_string(s.queued) + "\n";
  o += "# HELP veritas_decode_steps_total Batched decode steps.\n# TYPE veritas_decode_steps_total counter\n"
       "veritas_decode_steps_total " + std::to_string(s.steps) + "\n";
  if (joules)
    o += "# HELP veritas_energy_joules Energy since start (RAPL where readable, else a CPU-time estimate).\n"
         "# TYPE veritas_energy_joules counter\nveritas_energy_joules " + num(joules()) + "\n";
  o += "# HELP veritas_uptime_seconds Seconds since start.\n# TYPE veritas_uptime_seconds gauge\nveritas_uptime_seconds " +
       num(now - start_) + "\n";
  return o;
}

}  // namespace veritas::serve
