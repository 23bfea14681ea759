#pragma once
// A small fixed thread pool with parallel_for. Workers sleep on a condition variable
// between jobs (no spinning: the machine has few cores and BLAS has threads of its own).
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace veritas {

class ThreadPool {
 public:
  explicit ThreadPool(int threads = 0);  // 0 = hardware concurrency
  ~ThreadPool();
  int size() const { return (int)workers_.size() + 1; }
  // Calls fn(begin, end) on contiguous chunks of [0, n); the caller's thread works too.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);
  static ThreadPool& global();

 private:
  void worker(int id);
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t n_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

}  // namespace veritas
