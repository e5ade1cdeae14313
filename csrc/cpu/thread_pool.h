// A fixed pool of native threads that runs one parallel loop at a time. The calling thread
// works too, so a pool of N threads starts N - 1 extra ones (N = 1 runs inline).
#pragma once

#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fastpix {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }

  // Calls fn(worker, item) for every item in [0, count), worker in [0, size()), spread over the
  // threads; returns when all are done and rethrows the first exception any call threw.
  // Concurrent calls are serialized.
  void parallel_for(int count, const std::function<void(int worker, int item)>& fn);

 private:
  void worker_loop(int worker);
  void run_items(int worker);

  const int num_threads_;
  std::vector<std::thread> threads_;
  std::mutex call_mutex_;  // one parallel_for at a time

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  long generation_ = 0;
  bool stopping_ = false;
  int busy_workers_ = 0;

  const std::function<void(int, int)>* fn_ = nullptr;
  int count_ = 0;
  std::atomic<int> next_item_{0};
  std::exception_ptr error_;
};

}  // namespace fastpix
