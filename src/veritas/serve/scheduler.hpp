#pragma once
// Continuous batching over one infer::Engine: a fixed pool of slots (one KV cache each,
// `parallel` of them) and a bounded queue of jobs. One scheduler thread loops: it moves
// queued jobs into free slots, feeds up to `prefill_chunk` prompt tokens (prefill), then
// runs one decode step for every slot with a token to feed as one batch (the weights are
// read once per step for all of them). A job that finishes frees its slot at once, so a
// new job joins the batch at the next step.
//
// A slot keeps its cache after its job ends; a new job whose prompt starts with the same
// tokens picks that slot and feeds only the rest (prompt-prefix reuse). Logits do not
// depend on how tokens are grouped (infer/engine.hpp), so a job's greedy output is the
// same alone, batched, or with a reused prefix.
//
// Jobs talk to their HTTP handler through a Channel: the scheduler appends events under
// the channel's mutex and notifies; the handler waits, reads, and sets `cancelled` when
// its client goes away, which the scheduler honours before the next step.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "veritas/infer/engine.hpp"
#include "veritas/infer/sampler.hpp"
#include "veritas/serve/json_constraint.hpp"

namespace veritas::serve {

using Clock = std::chrono::steady_clock;

struct Channel {  // shared by the jobs of one HTTP request
  std::mutex mu;
  std::condition_variable cv;
};

struct TokenEvent {
  int32_t id = -1;      // -1: held-back text released at the end
  std::string text;     // text that became final with this token (may be empty)
  float logprob = 0;    // log p(id) under the model (temperature 1, before top-k/top-p)
  std::vector<std::pair<int32_t, float>> top;  // top_logprobs alternatives, best first
};

enum class JobEnd { Running, Stop, Length, ContextFull, Cancelled, Timeout, Error };
const char* job_end_name(JobEnd e);  // "stop", "length", ... as OpenAI's finish_reason where one exists

struct Job {
  // ---- input (set before submit, not touched after)
  std::vector<int32_t> prompt;
  infer::SamplingOptions sampling;
  int top_logprobs = 0;       // alternatives recorded per token (0..20)
  std::shared_ptr<const JsonConstraint> constraint;  // structured output: only viable tokens are sampled
  Clock::time_point deadline = Clock::time_point::max();
  std::shared_ptr<Channel> channel = std::make_shared<Channel>();
  std::atomic<bool> cancelled{false};  // set by the handler (client gone); read by the scheduler

  // ---- output, guarded by channel->mu
  std::deque<TokenEvent> events;  // not yet read by the handler
  std::vector<int32_t> tokens;    // every generated token
  std::string text;               // final text (after the end)
  double sum_logprob = 0;         // of the generated tokens, for the confidence
  JobEnd end = JobEnd::Running;
  std::string error;
  int cached_tokens = 0;          // prompt tokens reused from a slot's cache
  double queue_seconds = 0, first_token_seconds = 0;  // from submit
  Clock::time_point submitted;
  bool done() const { return end != JobEnd::Running; }
};

struct SchedulerOptions {
  int parallel = 4;    // slots
  int context = 0;     // KV positions per slot; 0 = the engine's default context
  int max_queue = 64;  // jobs waiting beyond the busy slots; more are refused (HTTP 503)
  bool prefix_reuse = true;
  int prefill_chunk = 256;  // prompt tokens fed per step (all slots together)
};

struct SchedulerStats {
  int busy_slots = 0, queued = 0;
  uint64_t steps = 0, generated_tokens = 0, prompt_tokens = 0, cached_prompt_tokens = 0;
};

class Scheduler {
 public:
  Scheduler(infer::Engine& engine, const SchedulerOptions& opt);
  ~Scheduler();  // finishes running jobs as Cancelled and joins the thread
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job; false when the queue is full or the scheduler is draining.
  bool submit(const std::shared_ptr<Job>& job);
  // Stops taking jobs and waits (at most `timeout`) until every admitted job has ended.
  bool drain(std::chrono::milliseconds timeout);
  SchedulerStats stats() const;
  int context() const { return context_; }
  int parallel() const { return (int)slots_.size(); }
  infer::Engine& engine() { return eng_; }

 private:
  struct Slot;
  void loop();
  void start(Slot& s);                    // set a slot up for its job (reusing a cached prefix)
  int prefill(Slot& s, int budget);       // feeds up to budget prompt tokens; samples the first token at the end
  void sample(Slot& s, const float* logits);  // one token; ends the job when due
  int32_t constrained(Slot& s, const float* logits);  // -1 when no token keeps the JSON viable
  void finish(Slot& s, JobEnd why, const std::string& error = {});

  infer::Engine& eng_;
  SchedulerOptions opt_;
  int context_ = 0;
  std::vector<int32_t> stop_ids_;
  std::vector<std::string> piece_;  // bytes of each token; "" for special tokens
  std::vector<std::unique_ptr<Slot>> slots_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false, draining_ = false;
  int busy_ = 0;    // slots with a job
  int active_ = 0;  // jobs submitted whose end is not yet published
  SchedulerStats stats_;
  std::thread thread_;
};

// Log-softmax of logits at temperature 1: returns log p(id) and fills `top` with the n
// most likely (id, log p) pairs, best first (ties: lower id first).
float token_logprob(const float* logits, int V, int32_t id, int n, std::vector<std::pair<int32_t, float>>* top);

}  // namespace veritas::serve
