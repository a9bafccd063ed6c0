#include "ps/fork_join.h"

#include "common/check.h"

namespace ecps::ps {

ForkJoinPool::ForkJoinPool(int threads) {
  ECPS_CHECK_GE(threads, 1);
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ForkJoinPool::~ForkJoinPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ForkJoinPool::Drain(Job* job) {
  for (size_t i = job->next.fetch_add(1); i < job->n; i = job->next.fetch_add(1)) (*job->fn)(i);
}

void ForkJoinPool::Run(size_t n, const std::function<void(size_t)>& fn) {
  Job job;
  job.fn = &fn;
  job.n = n;
  // The pool threads serve one job at a time; a concurrent caller does its
  // own items rather than queueing behind another request's.
  std::unique_lock<std::mutex> owner(run_mu_, std::try_to_lock);
  if (n <= 1 || workers_.empty() || !owner.owns_lock()) {
    Drain(&job);
    return;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    job_ = &job;
    ++generation_;
  }
  if (n - 1 >= workers_.size()) {
    work_cv_.notify_all();
  } else {
    for (size_t i = 0; i + 1 < n; ++i) work_cv_.notify_one();
  }
  Drain(&job);
  // Every item is claimed; wait for the pool threads still running theirs.
  // Once job_ is cleared no thread can join the job, so `job` (on this
  // stack) is not touched after the wait.
  std::unique_lock<std::mutex> l(mu_);
  job_ = nullptr;
  idle_cv_.wait(l, [&] { return job.active == 0; });
}

void ForkJoinPool::WorkerLoop() {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    work_cv_.wait(l, [&] { return stop_ || (job_ != nullptr && generation_ != seen); });
    if (stop_) return;
    seen = generation_;
    Job* job = job_;
    ++job->active;
    l.unlock();
    Drain(job);
    l.lock();
    if (--job->active == 0) idle_cv_.notify_all();
  }
}

}  // namespace ecps::ps
