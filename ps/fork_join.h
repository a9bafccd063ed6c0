// A small fork-join pool for the row work of one parameter-server request
// (the virtual-shard runs of a big pull or push, ps/server.h).
//
// Run(n, fn) calls fn(0..n-1) on the calling thread and on the pool's
// threads, and returns once every call has returned. Items are claimed one at
// a time and the caller claims too, so a request never waits for a pool thread
// that has not woken up yet: on a busy machine the caller simply runs every
// item itself. Which thread runs an item is unspecified; callers get
// determinism by giving items fixed meanings (the server: one item per
// virtual shard, so each shard's rows are processed in their usual order).
//
// Several handler threads may call Run() at once. One of them gets the pool
// threads; the others run their own items (two requests' row work is already
// spread over two threads).
//
// Thread-safety: Run() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace ecps::ps {

class ForkJoinPool {
 public:
  // threads >= 1 counts the caller: threads - 1 pool threads are started.
  explicit ForkJoinPool(int threads);
  ~ForkJoinPool();
  ForkJoinPool(const ForkJoinPool&) = delete;
  ForkJoinPool& operator=(const ForkJoinPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void Run(size_t n, const std::function<void(size_t)>& fn);

 private:
  struct Job {
    const std::function<void(size_t)>* fn = nullptr;
    size_t n = 0;
    std::atomic<size_t> next{0};
    int active = 0;  // pool threads inside Drain(); guarded by mu_
  };
  static void Drain(Job* job);
  void WorkerLoop();

  std::mutex run_mu_;  // held by the Run() that owns the pool threads
  std::mutex mu_;
  std::condition_variable work_cv_;  // a new job or stop
  std::condition_variable idle_cv_;  // a pool thread left a job
  Job* job_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped per job
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace ecps::ps
