#include "veritas/util/thread_pool.hpp"

#include <cstdlib>
#include <memory>

namespace veritas {

namespace {
// The pool whose job this thread is running (workers and the caller during a job), so
// that a nested parallel_for on it runs inline instead of waiting on itself.
thread_local const ThreadPool* t_in_job = nullptr;

struct InJob {
  const ThreadPool* saved;
  explicit InJob(const ThreadPool* p) : saved(t_in_job) { t_in_job = p; }
  ~InJob() { t_in_job = saved; }
};
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) {
    const char* env = std::getenv("VERITAS_THREADS");
    threads = env ? std::atoi(env) : 0;
    if (threads <= 0) threads = (int)std::thread::hardware_concurrency();
    if (threads <= 0) threads = 1;
  }
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunk(int id) {
  const int parts = size();
  int64_t b = n_ * id / parts, e = n_ * (id + 1) / parts;
  if (b >= e) return;
  InJob in(this);
  try {
    (*job_)(b, e);
  } catch (...) {
    std::lock_guard<std::mutex> lk(mu_);
    if (!error_) error_ = std::current_exception();
  }
}

void ThreadPool::worker(int id) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    run_chunk(id);  // job_ and n_ stay fixed until every worker has reported
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  // Inline: nothing to share, a nested call, or the pool is busy with another caller's job.
  std::unique_lock<std::mutex> busy(busy_mu_, std::defer_lock);
  if (workers_.empty() || n == 1 || t_in_job == this || !busy.try_lock()) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    job_ = &fn;
    n_ = n;
    pending_ = (int)workers_.size();
    error_ = nullptr;
    ++generation_;
  }
  cv_.notify_all();
  run_chunk(0);
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return pending_ == 0; });
    job_ = nullptr;
    std::swap(error, error_);
  }
  if (error) std::rethrow_exception(error);
}

namespace {
std::mutex g_global_mu;
std::unique_ptr<ThreadPool>& global_slot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}
}  // namespace

ThreadPool& ThreadPool::global() {
  std::lock_guard<std::mutex> lk(g_global_mu);
  auto& pool = global_slot();
  if (!pool) pool = std::make_unique<ThreadPool>();
  return *pool;
}

void ThreadPool::set_global_threads(int threads) {
  std::lock_guard<std::mutex> lk(g_global_mu);
  auto& pool = global_slot();
  if (pool && threads > 0 && pool->size() == threads) return;
  if (pool && threads <= 0) return;  // already running at its default size
  pool = std::make_unique<ThreadPool>(threads);
}

}  // namespace veritas
