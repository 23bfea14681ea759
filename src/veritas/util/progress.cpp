#include "veritas/util/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace veritas {

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  char buf[32];
  long t = (long)(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total) {
  tty_ = ::isatty(2);
  const char* q = std::getenv("VERITAS_QUIET");
  quiet_ = q && q[0] == '1';
}

Progress::~Progress() {
  if (!finished_) finish();
}

void Progress::update(int64_t done, const std::string& status) {
  done_ = done;
  if (!status.empty()) status_ = status;
  double now = timer_.seconds();
  double every = tty_ ? 0.1 : 5.0;
  if (last_draw_ < 0 || now - last_draw_ >= every) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish(const std::string& status) {
  if (finished_) return;
  finished_ = true;
  if (!status.empty()) status_ = status;
  draw(true);
}

void Progress::draw(bool final) {
  if (quiet_) return;
  double t = timer_.seconds();
  double rate = t > 0 ? done_ / t : 0;
  std::string bar;
  if (total_ > 0) {
    int width = 24, fill = (int)(width * std::min<double>(1.0, (double)done_ / total_));
    bar = "[" + std::string(fill, '#') + std::string(width - fill, '.') + "] ";
  }
  char head[160];
  if (total_ > 0) {
    double eta = rate > 0 ? (total_ - done_) / rate : -1;
    std::snprintf(head, sizeof head, "%s %s%lld/%lld %s %.1f %s/s %s %s", label_.c_str(), bar.c_str(),
                  (long long)done_, (long long)total_, unit_.c_str(), rate, unit_.c_str(),
                  final ? "in" : "ETA", format_duration(final ? t : eta).c_str());
  } else {
    std::snprintf(head, sizeof head, "%s %lld %s %.1f %s/s %s", label_.c_str(), (long long)done_,
                  unit_.c_str(), rate, unit_.c_str(), format_duration(t).c_str());
  }
  std::string line = std::string(head) + (status_.empty() ? "" : "  " + status_);
  if (tty_) std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  else std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace veritas
