#include "veritas/cli/stop_signal.hpp"

#include <csignal>

namespace veritas::cli {

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int sig) {
  g_stop = 1;
  std::signal(sig, SIG_DFL);  // the next one kills
}
}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool stop_requested() { return g_stop != 0; }

}  // namespace veritas::cli
