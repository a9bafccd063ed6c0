// The one fork-join pool: the row work of a parameter-server request
// (ps/server.h: one item per virtual shard) and the CPU dense backend's
// shards and parameter chunks (worker/model: cpu_dense_model.h,
// dense_optimizer.cc). Built to degrade gracefully on a machine whose cores
// are shared with other busy threads.
//
// Run(n, fn) calls fn(0..n-1) on the calling thread and on the pool's
// threads, and returns once every call has returned. Items are claimed one at
// a time and the caller claims too, so the caller never waits for a pool
// thread that has not started: if one is descheduled, the caller simply runs
// every item itself. It waits only for items another thread has already
// claimed. (An OpenMP team, by contrast, cannot finish a region until every
// member has arrived at its barrier.)
//
// Which thread runs an item is unspecified; determinism is the caller's
// business: give items fixed meanings (a virtual shard's rows, fixed row
// ranges, fixed parameter chunks) and any thread may run any item. For that,
// pool threads run each Run()'s items under the caller's floating-point
// control state (x86 MXCSR: flush-to-zero, denormals-are-zero, rounding;
// common/cpu.h EnableFlushToZero), so a denormal rounds the same on every
// thread.
//
// Several threads may call Run() at once: one of them gets the pool threads,
// the others run their own items (two requests' work is already spread over
// two threads). A Run() from inside an item runs inline the same way.
//
// Thread-safety: Run() from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace ecps {

struct ForkJoinOptions {
  // Threads that run items, the caller included: threads - 1 pool threads
  // are started. >= 1.
  int threads = 1;
  // Spin iterations (a CPU pause each) a waiting thread makes before it
  // sleeps: pool threads between jobs, the caller for claimed items. Worth it
  // when jobs come back to back within microseconds (the dense backend's
  // forward, backward and optimizer); 0 sleeps at once, leaving the core to
  // other threads.
  int spin = 0;
  // A per-thread setting that items run under, such as OpenMP's nthreads ICV
  // that sizes a BLAS call's thread team (worker/model/blas.h): null for
  // none. exchange(v) sets the calling thread's setting to v and returns the
  // one it replaced. Pool threads set `item_setting` once when they start;
  // the caller sets it for its part of every Run() and restores its own
  // after.
  int (*exchange_setting)(int value) = nullptr;
  int item_setting = 0;
};

class ForkJoinPool {
 public:
  explicit ForkJoinPool(int threads) : ForkJoinPool(ForkJoinOptions{.threads = threads}) {}
  explicit ForkJoinPool(const ForkJoinOptions& options);
  ~ForkJoinPool();
  ForkJoinPool(const ForkJoinPool&) = delete;
  ForkJoinPool& operator=(const ForkJoinPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(i) for every i in [0, n) and returns when all have returned.
  template <typename Fn>
  void Run(size_t n, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    RunImpl(n, &Invoke<F>, const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using Thunk = void (*)(void*, size_t);
  template <typename Fn>
  static void Invoke(void* fn, size_t i) {
    (*static_cast<const Fn*>(fn))(i);
  }
  void RunImpl(size_t n, Thunk thunk, void* arg);
  // One job of at most kMaxJob items, fn(base + i); the caller owns the pool.
  void RunJob(uint32_t n, size_t base);
  // Claims and runs items of the job whose generation is `gen`; returns when
  // none is left.
  void Drain(uint32_t gen);
  void WorkerLoop();

  const ForkJoinOptions opt_;
  std::atomic<bool> owned_{false};  // a Run() owns the pool threads
  // state_ = generation << 32 | item count << 16 | next unclaimed item.
  // Claims are CAS on the whole word, so a straggler from an old generation
  // can never claim an item of a newer job, and the count it compares with
  // is the one of the job it claims from.
  std::atomic<uint64_t> state_{0};
  // The current job. Written by the owning Run() only after the previous
  // job's items were all claimed *and* finished, so a successful claim
  // proves the fields read before it belong to that claim's job.
  std::atomic<Thunk> thunk_{nullptr};
  std::atomic<void*> arg_{nullptr};
  std::atomic<size_t> base_{0};   // the job's first item
  std::atomic<unsigned> csr_{0};  // the caller's FP control state
  std::atomic<int> done_{0};      // finished items of the current job
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

}  // namespace ecps
