#include "veritas/serve/scheduler.hpp"

#include <algorithm>
#include <cmath>

#include "veritas/infer/text_stream.hpp"
#include "veritas/util/error.hpp"

namespace veritas::serve {

const char* job_end_name(JobEnd e) {
  switch (e) {
    case JobEnd::Running: return "running";
    case JobEnd::Stop: return "stop";
    case JobEnd::Length: return "length";
    case JobEnd::ContextFull: return "length";  // OpenAI has no separate reason
    case JobEnd::Cancelled: return "cancelled";
    case JobEnd::Timeout: return "timeout";
    case JobEnd::Error: return "error";
  }
  return "?";
}

float token_logprob(const float* logits, int V, int32_t id, int n, std::vector<std::pair<int32_t, float>>* top) {
  float m = -INFINITY;
  for (int i = 0; i < V; ++i) m = std::max(m, logits[i]);
  double sum = 0;
  for (int i = 0; i < V; ++i) sum += std::exp((double)(logits[i] - m));
  const float lse = m + (float)std::log(sum);
  if (top && n > 0) {
    n = std::min(n, V);
    std::vector<int32_t> idx(V);
    for (int i = 0; i < V; ++i) idx[i] = i;
    std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    top->clear();
    for (int i = 0; i < n; ++i) top->push_back({idx[i], logits[idx[i]] - lse});
  }
  return logits[id] - lse;
}

struct Scheduler::Slot {
  infer::KVCache cache;
  std::vector<int32_t> cached;  // the tokens whose keys and values `cache` holds
  std::shared_ptr<Job> job;
  std::unique_ptr<infer::Sampler> sampler;
  std::unique_ptr<infer::TextStream> stream;
  std::vector<int32_t> stops;
  std::vector<float> logits;
  int32_t pending = -1;  // sampled, to be fed at the next step
  uint64_t last_used = 0;
};

namespace {
size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}
}  // namespace

Scheduler::Scheduler(infer::Engine& engine, const SchedulerOptions& opt) : eng_(engine), opt_(opt) {
  check(opt.parallel >= 1 && opt.parallel <= 256, "--parallel must be in [1, 256]");
  check(opt.max_queue >= 0, "the queue length must not be negative");
  context_ = opt.context > 0 ? opt.context : engine.config().max_position_embeddings;
  check(context_ >= 2, "the context must hold at least 2 tokens");
  for (int i = 0; i < opt.parallel; ++i) {
    auto s = std::make_unique<Slot>();
    s->cache = eng_.new_cache(context_);
    s->logits.resize(eng_.config().vocab_size);
    slots_.push_back(std::move(s));
  }
  stop_ids_ = eng_.end_tokens();
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  for (auto& s : slots_)
    if (s->job) finish(*s, JobEnd::Cancelled);
  for (auto& j : queue_) {
    std::lock_guard<std::mutex> lk(j->channel->mu);
    j->end = JobEnd::Cancelled;
    j->channel->cv.notify_all();
  }
}

bool Scheduler::submit(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    // Admitted work is bounded: every slot busy plus max_queue waiting.
    if (stopping_ || draining_ || (int)queue_.size() + busy_ >= (int)slots_.size() + opt_.max_queue) return false;
    job->submitted = Clock::now();
    queue_.push_back(job);
    ++active_;
  }
  cv_.notify_all();
  return true;
}

bool Scheduler::drain(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  draining_ = true;
  return cv_.wait_for(lk, timeout, [&] { return active_ == 0; });
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  SchedulerStats s = stats_;
  s.busy_slots = busy_;
  s.queued = (int)queue_.size();
  return s;
}

void Scheduler::finish(Slot& s, JobEnd why, const std::string& error) {
  std::shared_ptr<Job> job = std::move(s.job);
  Job& j = *job;
  {  // the slot is free before the job is seen to end, so its client may reuse it at once
    std::lock_guard<std::mutex> lk(mu_);
    --busy_;
  }
  {
    std::lock_guard<std::mutex> lk(j.channel->mu);
    if (s.stream) {
      std::string rest = s.stream->flush();
      if (!rest.empty() && why != JobEnd::Cancelled) {
        TokenEvent ev;
        ev.text = std::move(rest);
        j.events.push_back(std::move(ev));
      }
      j.text = s.stream->text();
    }
    j.end = why;
    j.error = error;
    j.channel->cv.notify_all();
  }
  if (why == JobEnd::Error) s.cached.clear();  // the cache may hold a half-written step
  s.sampler.reset();
  s.stream.reset();
  s.pending = -1;
  {
    std::lock_guard<std::mutex> lk(mu_);
    --active_;
  }
  cv_.notify_all();
}

void Scheduler::start(Slot& s) {
  Job& j = *s.job;
  const auto now = Clock::now();
  {
    std::lock_guard<std::mutex> lk(j.channel->mu);
    j.queue_seconds = std::chrono::duration<double>(now - j.submitted).count();
  }
  if (j.cancelled.load()) return finish(s, JobEnd::Cancelled);
  if (now > j.deadline) return finish(s, JobEnd::Timeout);
  if (j.prompt.empty() || (int)j.prompt.size() >= context_)
    return finish(s, JobEnd::Error, "the prompt must hold 1 to " + std::to_string(context_ - 1) + " tokens");
  s.sampler = std::make_unique<infer::Sampler>(j.sampling);
  s.stream = std::make_unique<infer::TextStream>(eng_.tokenizer(), j.sampling.stop_strings);
  s.stops = j.sampling.stop_tokens;
  if (j.sampling.stop_at_end_tokens) s.stops.insert(s.stops.end(), stop_ids_.begin(), stop_ids_.end());
  // Reuse the cached prefix, but feed at least one token: its logits start the reply.
  size_t keep = opt_.prefix_reuse ? std::min(common_prefix(s.cached, j.prompt), j.prompt.size() - 1) : 0;
  try {
    s.cache.truncate((int)keep);
    s.cached.resize(keep);
    eng_.forward(s.cache, j.prompt.data() + keep, (int)(j.prompt.size() - keep), s.logits.data());
    s.cached = j.prompt;
  } catch (const std::exception& e) {
    return finish(s, JobEnd::Error, e.what());
  }
  {
    std::lock_guard<std::mutex> lk(j.channel->mu);
    j.cached_tokens = (int)keep;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.prompt_tokens += j.prompt.size();
    stats_.cached_prompt_tokens += keep;
  }
  sample(s, s.logits.data());
}

void Scheduler::sample(Slot& s, const float* logits) {
  Job& j = *s.job;
  const int V = eng_.config().vocab_size;
  if (j.cancelled.load()) return finish(s, JobEnd::Cancelled);
  if (Clock::now() > j.deadline) return finish(s, JobEnd::Timeout);
  if ((int)j.tokens.size() >= j.sampling.max_tokens) return finish(s, JobEnd::Length);
  TokenEvent ev;
  ev.id = s.sampler->sample(logits, V);
  ev.logprob = token_logprob(logits, V, ev.id, j.top_logprobs, &ev.top);
  if (std::find(s.stops.begin(), s.stops.end(), ev.id) != s.stops.end()) return finish(s, JobEnd::Stop);
  ev.text = s.stream->push(ev.id);
  const int32_t id = ev.id;
  {
    std::lock_guard<std::mutex> lk(j.channel->mu);
    if (j.tokens.empty()) j.first_token_seconds = std::chrono::duration<double>(Clock::now() - j.submitted).count();
    j.tokens.push_back(id);
    j.sum_logprob += ev.logprob;
    j.events.push_back(std::move(ev));
    j.channel->cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++stats_.generated_tokens;
  }
  if (s.stream->stopped()) return finish(s, JobEnd::Stop);
  if ((int)j.tokens.size() >= j.sampling.max_tokens) return finish(s, JobEnd::Length);
  if (s.cache.size() >= s.cache.capacity()) return finish(s, JobEnd::ContextFull);
  s.pending = id;
}

void Scheduler::loop() {
  uint64_t tick = 0;
  std::vector<infer::KVCache*> caches;
  std::vector<int32_t> ids;
  std::vector<Slot*> rows, starting;
  std::vector<float> logits;
  const int V = eng_.config().vocab_size;
  for (;;) {
    starting.clear();
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty() || busy_ > 0; });
      if (stopping_) return;
      // Each queued job (oldest first) takes the free slot sharing its longest prompt
      // prefix; among equals the least recently used one.
      while (!queue_.empty()) {
        Slot* best = nullptr;
        size_t best_len = 0;
        for (auto& s : slots_) {
          if (s->job) continue;
          size_t len = opt_.prefix_reuse ? common_prefix(s->cached, queue_.front()->prompt) : 0;
          if (!best || len > best_len || (len == best_len && s->last_used < best->last_used)) {
            best = s.get();
            best_len = len;
          }
        }
        if (!best) break;
        best->job = queue_.front();
        best->last_used = ++tick;
        queue_.pop_front();
        ++busy_;
        starting.push_back(best);
      }
    }
    for (Slot* s : starting) start(*s);

    // One decode step for every slot with a token to feed.
    caches.clear();
    ids.clear();
    rows.clear();
    for (auto& s : slots_) {
      if (!s->job || s->pending < 0) continue;
      if (s->job->cancelled.load()) {
        finish(*s, JobEnd::Cancelled);
        continue;
      }
      caches.push_back(&s->cache);
      ids.push_back(s->pending);
      rows.push_back(s.get());
    }
    if (rows.empty()) continue;
    logits.resize(rows.size() * (size_t)V);
    try {
      eng_.forward_batch(caches, ids.data(), logits.data());
    } catch (const std::exception& e) {
      for (Slot* s : rows) finish(*s, JobEnd::Error, e.what());
      continue;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      ++stats_.steps;
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      rows[r]->cached.push_back(rows[r]->pending);
      rows[r]->pending = -1;
      sample(*rows[r], logits.data() + r * (size_t)V);
    }
  }
}

}  // namespace veritas::serve
