// veritas serve: the OpenAI-compatible server (docs/serve.md); veritas keys: its API keys.
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "veritas/cli/commands.hpp"
#include "veritas/cli/generation_options.hpp"
#include "veritas/selfplay/loop.hpp"
#include "veritas/serve/keys.hpp"
#include "veritas/serve/scheduler.hpp"
#include "veritas/serve/server.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

namespace {

struct ServeArgs {
  GenerationArgs gen;  // model, tokenizer, precision, context (per slot)
  serve::SchedulerOptions sched;
  serve::ServerOptions server;
  std::string port_file;
  double drain_s = 30;
  bool no_prefix_reuse = false;
};

// The model behind the server: a veritas or Hugging Face checkpoint folder, or a GGUF file
// (Engine::load tells them apart); anything that yields an infer::Engine with a tokenizer.
infer::Engine load_model(const GenerationArgs& g) { return load_engine(g); }

// SIGTERM and SIGINT write their number to a pipe that one thread reads: any thread
// (OpenBLAS starts its own before main) may take the signal, the handler only writes.
int g_signal_pipe[2] = {-1, -1};
void on_stop_signal(int sig) {
  unsigned char b = (unsigned char)sig;
  [[maybe_unused]] ssize_t n = write(g_signal_pipe[1], &b, 1);
}

void run_serve(ServeArgs& a) {
  check(pipe(g_signal_pipe) == 0, "cannot make a pipe for signals");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is an error value, not a kill

  infer::Engine eng = load_model(a.gen);
  a.sched.context = a.gen.context;
  a.sched.prefix_reuse = !a.no_prefix_reuse;
  serve::Scheduler sched(eng, a.sched);
  a.server.limits.max_tokens = std::min(a.server.limits.max_tokens, sched.context() - 1);
  a.server.limits.default_max_tokens = std::min(a.server.limits.default_max_tokens, a.server.limits.max_tokens);
  auto meter = std::make_shared<selfplay::EnergyMeter>(10.0);
  a.server.joules = [meter] { return meter->joules(); };
  serve::Server server(sched, a.server);
  server.bind();
  if (!a.port_file.empty()) {
    std::string tmp = a.port_file + ".tmp";
    std::ofstream(tmp) << server.port() << "\n";
    std::rename(tmp.c_str(), a.port_file.c_str());  // atomic: readers never see half a number
  }
  std::fprintf(stderr, "veritas serve: %s%s on http://%s:%d (%d slots of %d tokens, queue %d%s%s)\n", a.gen.model.c_str(),
               a.gen.device == "cpu" ? "" : (" on --device " + a.gen.device).c_str(),
               a.server.host.c_str(), server.port(), sched.parallel(), sched.context(), a.sched.max_queue,
               a.server.keys_db.empty() ? ", no API keys" : ", API keys required",
               a.server.verified_only ? ", verified-only" : "");
  const double drain_s = a.drain_s;
  std::thread([&server, drain_s] {
    unsigned char sig = 0;
    while (read(g_signal_pipe[0], &sig, 1) != 1) {
    }
    std::fprintf(stderr, "veritas serve: signal %d, finishing running requests (at most %.0f s)\n", sig, drain_s);
    std::thread([&server, drain_s] { server.shutdown(std::chrono::milliseconds((int64_t)(drain_s * 1000))); }).detach();
    while (read(g_signal_pipe[0], &sig, 1) != 1) {
    }
    std::fprintf(stderr, "veritas serve: second signal, exiting now\n");
    std::_Exit(1);
  }).detach();
  server.serve();
  std::fprintf(stderr, "veritas serve: stopped\n");
}

void add_limits(CLI::App* c, serve::KeyLimits& l) {
  c->add_option("--rpm", l.requests_per_minute, "requests per minute (token bucket); 0 = unlimited")->capture_default_str()->check(CLI::NonNegativeNumber);
  c->add_option("--tpm", l.tokens_per_minute, "prompt + generated tokens per minute; 0 = unlimited")->capture_default_str()->check(CLI::NonNegativeNumber);
  c->add_option("--daily-requests", l.daily_requests, "requests per UTC day; 0 = unlimited")->capture_default_str()->check(CLI::NonNegativeNumber);
  c->add_option("--daily-tokens", l.daily_tokens, "tokens per UTC day; 0 = unlimited")->capture_default_str()->check(CLI::NonNegativeNumber);
}

}  // namespace

void register_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "serve a checkpoint over an OpenAI-compatible HTTP API, with a web chat page at /");
  cmd->footer(
      "Routes: /v1/chat/completions, /v1/completions, /v1/models, /health, /tokenize, /detokenize,\n"
      "/metrics and the chat page /. SIGTERM or Ctrl-C finishes running requests, then exits.\n"
      "See docs/serve.md. Example: veritas serve --model out/ckpt --parallel 4 --port 8080");
  cmd->add_option("--model", a->gen.model, "checkpoint or Hugging Face folder (config.json, model.safetensors or its index, tokenizer.json) or a GGUF file")->required();
  cmd->add_option("--tokenizer", a->gen.tokenizer, "tokenizer.json to use instead of the checkpoint's");
  cmd->add_option("--precision", a->gen.precision, "weights: fp32, bf16, int8, or gguf (a .gguf model's Q8_0/Q4_0/Q4_1/Q5_0/K-quant blocks and F16 weights as stored)")->capture_default_str()->check(CLI::IsMember({"fp32", "bf16", "int8", "gguf"}));
  add_kv_cache_option(cmd, a->gen);
  cmd->add_option("--context", a->gen.context, "KV positions per slot (prompt + answer); 0 = the model's maximum")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--name", a->server.model_name, "model id reported by /v1/models and in responses")->capture_default_str();
  cmd->add_option("--host", a->server.host, "address to listen on (keep 127.0.0.1 unless you mean to expose it)")->capture_default_str();
  cmd->add_option("--port", a->server.port, "port; 0 = any free port (see --port-file)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--port-file", a->port_file, "write the port here once listening");
  cmd->add_option("--parallel", a->sched.parallel, "slots: requests generated at once in one batch")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--queue", a->sched.max_queue, "requests that may wait for a slot; more get 503")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-prefix-reuse", a->no_prefix_reuse, "do not reuse a slot's cached prompt prefix");
  cmd->add_option("--prefill-chunk", a->sched.prefill_chunk, "prompt tokens fed per step between decode steps")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--timeout", a->server.request_timeout_s, "seconds a request may take in all (504 after)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--read-timeout", a->server.read_timeout_s, "seconds a client has to send its request")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--max-body", a->server.limits.max_body_bytes, "largest request body in bytes (413 above)")->capture_default_str();
  cmd->add_option("--max-tokens", a->server.limits.max_tokens, "most tokens a request may ask for (400 above)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--default-max-tokens", a->server.limits.default_max_tokens, "tokens generated when a request does not say")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--max-messages", a->server.limits.max_messages, "most messages in one chat request")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--max-n", a->server.limits.max_n, "most choices (n) per request")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--http-threads", a->server.http_threads, "connection threads; 0 = parallel + 72")->capture_default_str();
  cmd->add_option("--cors", a->server.cors_origin, "send CORS headers allowing this origin ('*' for any); default none");
  cmd->add_option("--keys", a->server.keys_db, "SQLite database of API keys (veritas keys); without it no key is needed");
  cmd->add_flag("--verified-only", a->server.verified_only,
                "never return an answer the verifier refutes: try up to --candidates samples, else abstain");
  cmd->add_option("--candidates", a->server.verify_candidates, "samples tried per answer by --verified-only")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--drain", a->drain_s, "seconds SIGTERM waits for running requests")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->callback([a] { run_serve(*a); });
}

void register_keys(CLI::App& app) {
  auto* cmd = app.add_subcommand("keys", "manage the API keys of veritas serve (stored hashed in SQLite)");
  cmd->require_subcommand(1);
  auto db = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto limits = std::make_shared<serve::KeyLimits>();

  auto* add = cmd->add_subcommand("add", "make a key; prints it once (only its SHA-256 is stored)");
  add->add_option("--db", *db, "keys database (created when absent)")->required();
  add->add_option("--name", *name, "a unique name for the key")->required();
  add_limits(add, *limits);
  add->callback([db, name, limits] {
    serve::KeyStore ks(*db);
    std::printf("%s\n", ks.add(*name, *limits).c_str());
  });

  auto* list = cmd->add_subcommand("list", "list keys (name, prefix, limits, today's use); never the keys");
  list->add_option("--db", *db, "keys database")->required()->check(CLI::ExistingFile);
  list->callback([db] {
    serve::KeyStore ks(*db);
    std::printf("%-20s %-8s %-8s %8s %10s %10s %12s %10s %12s\n", "name", "prefix", "state", "rpm", "tpm", "daily_req",
                "daily_tokens", "today_req", "today_tokens");
    for (auto& k : ks.list())
      std::printf("%-20s %-8s %-8s %8.0f %10.0f %10lld %12lld %10lld %12lld\n", k.name.c_str(), k.prefix.c_str(),
                  k.revoked ? "revoked" : "active", k.limits.requests_per_minute, k.limits.tokens_per_minute,
                  (long long)k.limits.daily_requests, (long long)k.limits.daily_tokens, (long long)k.today_requests,
                  (long long)k.today_tokens);
  });

  auto* revoke = cmd->add_subcommand("revoke", "revoke a key by name (it answers 401 from then on)");
  revoke->add_option("--db", *db, "keys database")->required()->check(CLI::ExistingFile);
  revoke->add_option("--name", *name, "the key's name")->required();
  revoke->callback([db, name] {
    serve::KeyStore ks(*db);
    check(ks.revoke(*name), "no active key named '" + *name + "'");
    std::printf("revoked %s\n", name->c_str());
  });
}

}  // namespace veritas::cli
