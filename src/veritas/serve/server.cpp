#include "veritas/serve/server.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <ctime>
#include <random>
#include <thread>

#include <httplib.h>

#include "veritas/serve/keys.hpp"
#include "veritas/serve/metrics.hpp"
#include "veritas/serve/responses.hpp"
#include "veritas/serve/truth.hpp"
#include "veritas/serve/webpage.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"

namespace veritas::serve {

namespace {

// The socket of the connection serving `req`. cpp-httplib does not expose it; it is the
// one open socket whose peer and local ports are the request's. Used to notice a client
// that hung up while its answer is being generated.
int find_socket(const httplib::Request& req) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int found = -1;
  while (dirent* e = readdir(d)) {
    int fd = std::atoi(e->d_name);
    if (fd <= 2) continue;
    sockaddr_storage peer{}, local{};
    socklen_t pl = sizeof peer, ll = sizeof local;
    if (getpeername(fd, (sockaddr*)&peer, &pl) != 0 || getsockname(fd, (sockaddr*)&local, &ll) != 0) continue;
    auto port_of = [](const sockaddr_storage& a) {
      return a.ss_family == AF_INET ? ntohs(((const sockaddr_in&)a).sin_port)
                                    : a.ss_family == AF_INET6 ? ntohs(((const sockaddr_in6&)a).sin6_port) : 0;
    };
    if (port_of(peer) == req.remote_port && port_of(local) == req.local_port) {
      found = fd;
      break;
    }
  }
  closedir(d);
  return found;
}

bool peer_gone(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, (short)(POLLIN | POLLRDHUP), 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
  if (p.revents & POLLIN) {
    char c;
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  return false;
}

std::string bearer(const httplib::Request& req) {
  std::string h = req.get_header_value("Authorization");
  if (h.rfind("Bearer ", 0) == 0) return h.substr(7);
  return req.get_header_value("X-Api-Key");
}

std::string random_id(const char* prefix) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  char b[40];
  std::snprintf(b, sizeof b, "%s%016llx", prefix, (unsigned long long)rng());
  return b;
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct Server::Impl {
  Scheduler& sched;
  ServerOptions opt;
  httplib::Server http;
  Metrics metrics;
  std::unique_ptr<KeyStore> keys;
  std::atomic<bool> draining{false};
  std::atomic<int> inflight{0};
  const Tokenizer* tok = nullptr;
  int bound_port = 0;

  Impl(Scheduler& s, const ServerOptions& o) : sched(s), opt(o) {
    tok = sched.engine().tokenizer();
    check(tok != nullptr, "serve: the model has no tokenizer");
    if (!opt.keys_db.empty()) keys = std::make_unique<KeyStore>(opt.keys_db);
    if (opt.http_threads <= 0) opt.http_threads = sched.parallel() + 64 + 8;
    (void)recognise_question("");  // builds the fact-table and physics indexes now, not in the first request
    routes();
  }

  // ---- errors ----------------------------------------------------------------------
  void send_error(httplib::Response& res, const ApiError& e, int retry_after = 0) {
    res.status = e.status;
    if (retry_after > 0) res.set_header("Retry-After", std::to_string(retry_after));
    res.set_content(error_body(e), "application/json");
  }
  void reject(httplib::Response& res, const std::string& reason, const ApiError& e, int retry_after = 0) {
    metrics.rejected(reason);
    send_error(res, e, retry_after);
  }

  // Checks the key (when keys are on); false after writing 401 or 429.
  bool authorize(const httplib::Request& req, httplib::Response& res, int64_t* key_id) {
    *key_id = 0;
    if (!keys) return true;
    Admission a = keys->admit(bearer(req), wall_seconds());
    if (a.kind == Admission::Kind::Unauthorized) {
      reject(res, "auth", {401, "invalid_request_error", a.message, "", "invalid_api_key"});
      return false;
    }
    if (a.kind == Admission::Kind::Limited) {
      reject(res, "rate_limit", {429, "rate_limit_exceeded", a.message, "", "rate_limit_exceeded"}, a.retry_after_s);
      return false;
    }
    *key_id = a.key_id;
    return true;
  }

  // ---- completions -----------------------------------------------------------------
  struct Run {
    CompletionRequest req;
    std::vector<int32_t> prompt;
    std::optional<Task> task;
    std::shared_ptr<Channel> ch = std::make_shared<Channel>();
    uint64_t seed = 0;
    int max_tokens = 0;
    Clock::time_point t0, deadline;
    ResponseMeta meta;
    int64_t key_id = 0;
    int fd = -1;
    bool verified_only = false;
  };

  std::shared_ptr<Job> make_job(const Run& r, int choice, int attempt) {
    auto j = std::make_shared<Job>();
    j->channel = r.ch;
    j->prompt = r.prompt;
    j->deadline = r.deadline;
    j->top_logprobs = r.req.logprobs ? r.req.top_logprobs : 0;
    j->constraint = r.req.constraint;
    auto& s = j->sampling;
    s.temperature = r.req.temperature;
    // A second candidate must differ from the first: greedy requests retry at 0.7.
    if (attempt > 0 && s.temperature <= 0) s.temperature = 0.7f;
    s.top_p = r.req.top_p;
    s.top_k = r.req.top_k;
    s.seed = r.seed + (uint64_t)choice + 1000ull * (uint64_t)attempt;
    s.max_tokens = r.max_tokens;
    s.stop_strings = r.req.stop;
    s.stop_at_end_tokens = !r.req.ignore_eos;
    s.logit_bias = r.req.logit_bias;
    return j;
  }

  // Waits until every job has ended; cancels them and returns false when the client hangs up.
  bool wait_all(const Run& r, const std::vector<std::shared_ptr<Job>>& jobs) {
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(r.ch->mu);
        auto all = [&] {
          for (auto& j : jobs)
            if (!j->done()) return false;
          return true;
        };
        if (r.ch->cv.wait_for(lk, std::chrono::milliseconds(20), all)) return true;
      }
      if (peer_gone(r.fd)) {
        for (auto& j : jobs) j->cancelled = true;
        return false;
      }
    }
  }

  ChoiceResult result_of(const Run& r, Job& j) {
    std::lock_guard<std::mutex> lk(r.ch->mu);
    ChoiceResult c;
    c.text = j.text;
    c.finish_reason = j.end == JobEnd::Stop ? "stop" : "length";
    for (auto& e : j.events) c.tokens.push_back(e);
    double mean = j.tokens.empty() ? 0 : j.sum_logprob / (double)j.tokens.size();
    c.truth = assess(j.text, mean, r.task);
    return c;
  }

  void account(Run& r, const std::vector<std::shared_ptr<Job>>& jobs) {
    double ttft = 0, queue = 0;
    for (auto& j : jobs) {
      std::lock_guard<std::mutex> lk(r.ch->mu);
      r.meta.completion_tokens += (int)j->tokens.size();
      r.meta.cached_tokens = std::max(r.meta.cached_tokens, j->cached_tokens);
      ttft = std::max(ttft, j->first_token_seconds);
      queue = std::max(queue, j->queue_seconds);
    }
    double total = std::chrono::duration<double>(Clock::now() - r.t0).count();
    metrics.finished(r.meta.prompt_tokens, r.meta.completion_tokens, ttft, queue, total);
    if (keys) keys->charge(r.key_id, r.meta.prompt_tokens + r.meta.completion_tokens, wall_seconds());
  }

  // The first job error among `jobs` as an ApiError, if any.
  std::optional<ApiError> job_error(const Run& r, const std::vector<std::shared_ptr<Job>>& jobs) {
    std::lock_guard<std::mutex> lk(r.ch->mu);
    for (auto& j : jobs) {
      if (j->end == JobEnd::Timeout)
        return ApiError{504, "timeout", "the request took longer than the server's timeout", "", "timeout"};
      if (j->end == JobEnd::Error) return ApiError{500, "server_error", j->error, "", ""};
    }
    return std::nullopt;
  }

  // Generates every choice to the end (verified-only: up to k candidates each).
  // Returns false when the client went away or a job failed (res is then written).
  bool generate_all(Run& r, std::vector<ChoiceResult>& out, std::vector<std::shared_ptr<Job>>& all, httplib::Response& res) {
    const int n = r.req.n;
    if (!r.verified_only || !r.task) {
      for (int i = 0; i < n; ++i) all.push_back(make_job(r, i, 0));
      if (!submit(all, res)) return false;
      if (!wait_all(r, all)) return false;
      if (auto e = job_error(r, all)) return send_error(res, *e), false;
      for (auto& j : all) out.push_back(result_of(r, *j));
      return true;
    }
    const int k = std::max(1, opt.verify_candidates);
    for (int i = 0; i < n; ++i) {
      std::shared_ptr<Job> last;
      bool failed = false;
      std::vector<Assessment> tried;
      int pick = pick_verified(*r.task, k, [&](int attempt) -> std::pair<std::string, double> {
        if (failed) return {"", 0};
        auto j = make_job(r, i, attempt);
        std::vector<std::shared_ptr<Job>> one{j};
        failed = true;
        if (!submit(one, res)) return {"", 0};
        all.push_back(j);
        if (!wait_all(r, one)) return {"", 0};
        if (auto e = job_error(r, one)) return send_error(res, *e), std::pair<std::string, double>{"", 0};
        failed = false;
        last = j;
        std::lock_guard<std::mutex> lk(r.ch->mu);
        return {j->text, j->tokens.empty() ? 0 : j->sum_logprob / (double)j->tokens.size()};
      }, &tried);
      if (failed) return false;
      ChoiceResult c = result_of(r, *last);
      c.candidates = (int)tried.size();
      if (pick < 0) {  // nothing verified: an honest abstention, never a refuted answer
        c = ChoiceResult{};
        c.text = kAbstention;
        c.finish_reason = "stop";
        c.truth = assess(c.text, 0, r.task);
        c.candidates = (int)tried.size();
        c.replaced = true;
      }
      out.push_back(std::move(c));
    }
    return true;
  }

  bool submit(std::vector<std::shared_ptr<Job>>& jobs, httplib::Response& res) {
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (!sched.submit(jobs[i])) {
        for (size_t k = 0; k < i; ++k) jobs[k]->cancelled = true;
        reject(res, draining ? "draining" : "queue_full",
               {503, "server_overloaded", draining ? "the server is shutting down" : "the server is busy (queue full); retry later",
                "", draining ? "draining" : "queue_full"},
               1);
        return false;
      }
    }
    return true;
  }

  // Parses, checks and prepares a completion request; writes the error and returns
  // false when it cannot run.
  bool prepare(const httplib::Request& req, httplib::Response& res, bool chat, Run& r) {
    r.t0 = Clock::now();
    if (draining) {
      reject(res, "draining", {503, "server_overloaded", "the server is shutting down", "", "draining"}, 1);
      return false;
    }
    auto parsed = parse_completion_request(req.body, chat, opt.limits);
    if (auto* e = std::get_if<ApiError>(&parsed)) {
      reject(res, e->status == 413 ? "too_large" : "invalid", *e);
      return false;
    }
    r.req = std::move(std::get<CompletionRequest>(parsed));
    if (!authorize(req, res, &r.key_id)) return false;
    try {
      if (chat) r.prompt = chat_tokens(*tok, r.req.messages, true);
      else if (r.req.prompt_is_ids) r.prompt = r.req.prompt_ids;
      else r.prompt = tok->encode(r.req.prompt);
    } catch (const std::exception& e) {
      reject(res, "invalid", {400, "invalid_request_error", e.what(), chat ? "messages" : "prompt", ""});
      return false;
    }
    const int V = sched.engine().config().vocab_size;
    for (int32_t id : r.prompt)
      if (id < 0 || id >= V) {
        reject(res, "invalid", {400, "invalid_request_error", "token id " + std::to_string(id) + " is outside the vocabulary", "prompt", ""});
        return false;
      }
    for (auto [id, b] : r.req.logit_bias)
      if (id >= V) {
        reject(res, "invalid", {400, "invalid_request_error", "logit_bias: token id " + std::to_string(id) + " is outside the vocabulary", "logit_bias", ""});
        return false;
      }
    if (r.prompt.empty()) {
      reject(res, "invalid", {400, "invalid_request_error", "the prompt is empty", "prompt", ""});
      return false;
    }
    const int ctx = sched.context();
    if ((int)r.prompt.size() >= ctx) {
      reject(res, "invalid", {400, "invalid_request_error",
                              "the prompt has " + std::to_string(r.prompt.size()) + " tokens; the context holds " +
                                  std::to_string(ctx) + " (prompt + at least 1 generated token)",
                              chat ? "messages" : "prompt", "context_length_exceeded"});
      return false;
    }
    r.max_tokens = std::min(r.req.max_tokens, ctx - (int)r.prompt.size());
    r.seed = r.req.seed ? *r.req.seed : std::random_device{}();
    r.deadline = r.t0 + std::chrono::milliseconds((int64_t)(opt.request_timeout_s * 1000));
    r.verified_only = opt.verified_only || r.req.verified_only;
    r.task = recognise_question(question_of(r.req));
    r.meta.id = random_id(chat ? "chatcmpl-" : "cmpl-");
    r.meta.model = opt.model_name;
    r.meta.created = (int64_t)std::time(nullptr);
    r.meta.prompt_tokens = (int)r.prompt.size();
    r.fd = find_socket(req);
    return true;
  }

  void completions(const httplib::Request& req, httplib::Response& res, bool chat) {
    auto r = std::make_shared<Run>();
    if (!prepare(req, res, chat, *r)) return;
    ++inflight;
    if (!r->req.stream || (r->verified_only && r->task)) {
      std::vector<ChoiceResult> out;
      std::vector<std::shared_ptr<Job>> all;
      bool ok = generate_all(*r, out, all, res);
      account(*r, all);
      if (ok && r->req.stream) {  // verified-only streams the chosen answers whole
        std::string body;
        for (size_t i = 0; i < out.size(); ++i) {
          body += "data: " + dump(chunk_json(r->req, r->meta, (int)i, "", true, {}, nullptr, *tok)) + "\n\n";
          body += "data: " + dump(chunk_json(r->req, r->meta, (int)i, out[i].text, false, out[i].tokens, &out[i], *tok)) + "\n\n";
        }
        if (r->req.include_usage) body += "data: " + dump(usage_chunk_json(r->req, r->meta)) + "\n\n";
        body += "data: [DONE]\n\n";
        res.set_content(body, "text/event-stream");
      } else if (ok) {
        res.set_content(dump(completion_json(r->req, r->meta, out, *tok)), "application/json");
      } else if (res.status < 400) {
        res.status = 499;  // the client closed the connection
      }
      --inflight;
      return;
    }
    stream(r, res);
  }

  void stream(const std::shared_ptr<Run>& r, httplib::Response& res) {
    std::vector<std::shared_ptr<Job>> jobs;
    for (int i = 0; i < r->req.n; ++i) jobs.push_back(make_job(*r, i, 0));
    if (!submit(jobs, res)) {
      --inflight;
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, r, jobs](size_t, httplib::DataSink& sink) {
          try {
            return stream_events(*r, jobs, sink);
          } catch (const std::exception&) {  // never let an exception out of httplib's thread
            for (auto& j : jobs) j->cancelled = true;
            return false;
          }
        },
        [this](bool) { --inflight; });
  }

  // Sends the jobs' events as SSE as they come; false when the client went away.
  bool stream_events(Run& rr, const std::vector<std::shared_ptr<Job>>& jobs, httplib::DataSink& sink) {
    Run* r = &rr;
    auto send = [&](const json& j) {
      std::string s = "data: " + dump(j) + "\n\n";
      return sink.write(s.data(), s.size());
    };
    const int n = (int)jobs.size();
    std::vector<bool> started(n, false), ended(n, false);
    bool alive = true;
    int left = n;
    while (left > 0 && alive) {
      std::vector<std::pair<int, std::vector<TokenEvent>>> batch;
      std::vector<int> finished;
      {
        std::unique_lock<std::mutex> lk(r->ch->mu);
        r->ch->cv.wait_for(lk, std::chrono::milliseconds(20), [&] {
          for (int i = 0; i < n; ++i)
            if (!ended[i] && (!jobs[i]->events.empty() || jobs[i]->done())) return true;
          return false;
        });
        for (int i = 0; i < n; ++i) {
          if (ended[i]) continue;
          auto& q = jobs[i]->events;
          if (!q.empty()) batch.push_back({i, {q.begin(), q.end()}});
          q.clear();
          if (jobs[i]->done()) finished.push_back(i);
        }
      }
      for (auto& [i, evs] : batch) {
        std::string text;
        for (auto& e : evs) text += e.text;
        alive = alive && send(chunk_json(r->req, r->meta, i, text, !started[i], evs, nullptr, *tok));
        started[i] = true;
      }
      for (int i : finished) {
        if (auto e = job_error(*r, {jobs[i]})) {
          alive = alive && send(json::parse(error_body(*e)));
        } else {
          ChoiceResult c = result_of(*r, *jobs[i]);
          alive = alive && send(chunk_json(r->req, r->meta, i, "", !started[i], {}, &c, *tok));
        }
        ended[i] = true;
        --left;
      }
      if (alive && peer_gone(r->fd)) alive = false;
    }
    if (!alive)
      for (auto& j : jobs) j->cancelled = true;
    // Cancelled jobs end within a step; wait so their tokens are counted.
    wait_all(*r, jobs);
    account(*r, jobs);
    if (alive) {
      if (r->req.include_usage) send(usage_chunk_json(r->req, r->meta));
      static const char kDone[] = "data: [DONE]\n\n";
      sink.write(kDone, sizeof kDone - 1);
      sink.done();
    }
    return alive;
  }

  // ---- small endpoints -------------------------------------------------------------
  void tokenize(const httplib::Request& req, httplib::Response& res) {
    int64_t key;
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return reject(res, "invalid", {400, "invalid_request_error", "invalid JSON", "", ""});
    if (!authorize(req, res, &key)) return;
    auto it = j.find("content");
    if (it == j.end()) it = j.find("text");
    if (it == j.end() || !it->is_string())
      return reject(res, "invalid", {400, "invalid_request_error", "'content' must be a string", "content", ""});
    bool specials = j.value("add_special", false) == true;
    auto ids = specials ? tok->encode_with_specials(it->get<std::string>()) : tok->encode(it->get<std::string>());
    res.set_content(dump({{"tokens", ids}}), "application/json");
  }

  void detokenize(const httplib::Request& req, httplib::Response& res) {
    int64_t key;
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return reject(res, "invalid", {400, "invalid_request_error", "invalid JSON", "", ""});
    if (!authorize(req, res, &key)) return;
    auto it = j.find("tokens");
    if (it == j.end() || !it->is_array())
      return reject(res, "invalid", {400, "invalid_request_error", "'tokens' must be an array of token ids", "tokens", ""});
    std::vector<int32_t> ids;
    for (auto& t : *it) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok->vocab_size())
        return reject(res, "invalid", {400, "invalid_request_error", "token ids must be integers in [0, " +
                                                                          std::to_string(tok->vocab_size()) + ")", "tokens", ""});
      ids.push_back((int32_t)t.get<int64_t>());
    }
    res.set_content(dump({{"content", tok->decode(ids)}}), "application/json");
  }

  json model_json() const {
    return {{"id", opt.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "veritas"},
            {"meta", {{"context", sched.context()}, {"slots", sched.parallel()}, {"vocab", tok->vocab_size()}}}};
  }

  void routes() {
    http.new_task_queue = [n = opt.http_threads] { return new httplib::ThreadPool((size_t)n); };
    // SO_REUSEADDR but not cpp-httplib's default SO_REUSEPORT: a second server on a port in
    // use must fail to bind, not silently share the port.
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    http.set_payload_max_length(opt.limits.max_body_bytes);
    http.set_read_timeout(std::chrono::milliseconds((int64_t)(opt.read_timeout_s * 1000)));
    http.set_write_timeout(std::chrono::seconds(10));
    http.set_keep_alive_timeout(2);  // idle connections also hold up a stop this long
    if (!opt.cors_origin.empty())
      http.set_default_headers({{"Access-Control-Allow-Origin", opt.cors_origin},
                                {"Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key"},
                                {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"}});
    http.Options(".*", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
    http.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(web_page(), "text/html; charset=utf-8"); });
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      SchedulerStats s = sched.stats();
      res.status = draining ? 503 : 200;
      res.set_content(dump({{"status", draining ? "draining" : "ok"}, {"slots_busy", s.busy_slots},
                            {"slots", sched.parallel()}, {"queued", s.queued}}),
                      "application/json");
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.render(sched.stats(), sched.parallel(), opt.joules), "text/plain; version=0.0.4");
    });
    http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
      int64_t key;
      if (!authorize(req, res, &key)) return;
      res.set_content(dump({{"object", "list"}, {"data", json::array({model_json()})}}), "application/json");
    });
    http.Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      int64_t key;
      if (!authorize(req, res, &key)) return;
      if (req.matches[1] != opt.model_name)
        return send_error(res, {404, "invalid_request_error", "no model named '" + std::string(req.matches[1]) + "'", "model", "model_not_found"});
      res.set_content(dump(model_json()), "application/json");
    });
    http.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& s) { completions(q, s, true); });
    http.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& s) { completions(q, s, false); });
    http.Post("/tokenize", [this](const httplib::Request& q, httplib::Response& s) { tokenize(q, s); });
    http.Post("/detokenize", [this](const httplib::Request& q, httplib::Response& s) { detokenize(q, s); });
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      std::string msg = res.status == 404 ? "no route " + req.method + " " + req.path
                        : res.status == 413 ? "request body is larger than " + std::to_string(opt.limits.max_body_bytes) + " bytes"
                                            : "HTTP " + std::to_string(res.status);
      if (res.status == 413) metrics.rejected("too_large");
      res.set_content(error_body({res.status, "invalid_request_error", msg, "", ""}), "application/json");
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string msg = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        msg = e.what();
      } catch (...) {
      }
      res.status = 500;
      res.set_content(error_body({500, "server_error", msg, "", ""}), "application/json");
    });
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      std::string ep = req.path.rfind("/v1/models", 0) == 0 ? "/v1/models" : req.path;
      static const char* known[] = {"/", "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions",
                                    "/tokenize", "/detokenize"};
      bool ok = false;
      for (const char* k : known) ok = ok || ep == k;
      metrics.request(ok ? ep : "other", res.status);
    });
  }
};

Server::Server(Scheduler& sched, const ServerOptions& opt) : impl_(std::make_unique<Impl>(sched, opt)) {}
Server::~Server() = default;

void Server::bind() {
  auto& m = *impl_;
  if (m.opt.port == 0) {
    m.bound_port = m.http.bind_to_any_port(m.opt.host);
    check(m.bound_port > 0, "cannot bind " + m.opt.host + " to a free port");
  } else {
    check(m.http.bind_to_port(m.opt.host, m.opt.port), "cannot bind " + m.opt.host + ":" + std::to_string(m.opt.port) +
                                                             " (in use, or not an address of this machine)");
    m.bound_port = m.opt.port;
  }
}

int Server::port() const { return impl_->bound_port; }
void Server::serve() { impl_->http.listen_after_bind(); }

void Server::shutdown(std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  m.draining = true;
  auto until = Clock::now() + timeout;
  m.sched.drain(timeout);
  while (m.inflight.load() > 0 && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  m.http.stop();
}

}  // namespace veritas::serve
