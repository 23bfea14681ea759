#pragma once
// The HTTP side of `veritas serve` (cpp-httplib): OpenAI routes over a Scheduler, the
// truth extensions, API keys and limits, /metrics, and the web chat page at /.
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "veritas/serve/api.hpp"
#include "veritas/serve/scheduler.hpp"

namespace veritas::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0 = any free port (see Server::port())
  std::string model_name = "veritas";
  RequestLimits limits;
  double request_timeout_s = 300;  // per request, from arrival to the last token
  double read_timeout_s = 10;      // a client must send its request within this (slow-loris)
  int http_threads = 0;            // 0 = parallel + max_queue + 8
  std::string cors_origin;         // "" = no CORS headers; "*" or an origin
  std::string keys_db;             // "" = no keys needed
  bool verified_only = false;      // every request as if it asked veritas.verified_only
  int verify_candidates = 4;       // k for verified-only
  std::function<double()> joules;  // energy meter for /metrics (may be empty)
};

class Server {
 public:
  Server(Scheduler& sched, const ServerOptions& opt);
  ~Server();
  // Binds; throws Error when the address cannot be bound. Then serve() blocks until stop().
  void bind();
  int port() const;
  void serve();
  // Graceful stop: new requests get 503, running ones finish (at most `timeout`), then
  // the listener closes and serve() returns.
  void shutdown(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace veritas::serve
