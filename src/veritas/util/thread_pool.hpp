#pragma once
// A small fixed thread pool with parallel_for. Workers sleep on a condition variable
// between jobs (no spinning: the machine has few cores and BLAS has threads of its own).
// The global pool's size is set once by the program (set_global_threads, from main or a
// command's options) or else taken from VERITAS_THREADS / the hardware; library code
// passes counts explicitly and never sets the environment.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace veritas {

class ThreadPool {
 public:
  explicit ThreadPool(int threads = 0);  // 0 = VERITAS_THREADS, else hardware concurrency
  ~ThreadPool();
  int size() const { return (int)workers_.size() + 1; }
  // Calls fn(begin, end) on contiguous chunks of [0, n); the caller's thread works too.
  // Re-entrant: a call made while this pool is busy (from inside a job, or from another
  // thread) runs inline on the calling thread. An exception thrown by fn on any thread
  // reaches the caller (the first one; the other chunks still finish).
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

  static ThreadPool& global();
  // Sizes the global pool (threads <= 0: the default). Call before parallel work starts
  // (from main or a command's setup), never while a global job runs.
  static void set_global_threads(int threads);

 private:
  void worker(int id);
  void run_chunk(int id);
  std::vector<std::thread> workers_;
  std::mutex mu_, busy_mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t n_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;  // the job's first exception (guarded by mu_)
};

}  // namespace veritas
