// A small fork-join pool for the CPU dense backend, built to degrade
// gracefully on a machine whose cores are shared with other busy threads
// (the 2-core training box: embedding, data and dense work all compete).
//
// Run(n, fn) executes fn(0..n-1) on the calling thread and threads()-1
// workers. Items are claimed dynamically, and the caller claims items too, so
// the caller never waits for a worker that has not started: if a worker is
// descheduled, the caller simply runs every item itself. It waits only for
// items another thread has already claimed. (An OpenMP team, by contrast,
// cannot finish a region until every member has arrived at its barrier.)
//
// Determinism is the caller's business: give items fixed meanings (fixed row
// ranges, fixed parameter chunks) and any thread may run any item.
//
// BLAS: workers run with a per-thread OpenMP ICV of 1, and Run() sets the
// caller's to 1 while it executes items, so OpenBLAS (OpenMP build) stays
// single-threaded inside items. The caller's floating-point control state
// (FTZ/DAZ, fp_env.h) is applied to the workers for each Run().
//
// Thread-safety: Run() may be called by one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

#include "worker/model/fp_env.h"

namespace ecps::model {

class TaskPool {
 public:
  // threads >= 1; starts threads - 1 workers.
  explicit TaskPool(int threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(i) for every i in [0, n) and returns when all have finished.
  template <typename Fn>
  void Run(int n, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    RunImpl(n, &Invoke<F>, const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using Thunk = void (*)(void*, int);
  template <typename Fn>
  static void Invoke(void* fn, int i) {
    (*static_cast<const Fn*>(fn))(i);
  }
  void RunImpl(int n, Thunk thunk, void* arg);
  // Claims and runs items of the job whose generation is `gen`; returns when
  // none is left.
  void Drain(uint32_t gen);
  void WorkerLoop();

  // state_ = generation << 32 | item count << 16 | next unclaimed item.
  // Claims are CAS on the whole word, so a straggler from an old generation
  // can never claim an item of a newer job, and the count it compares with
  // is the one of the job it claims from.
  std::atomic<uint64_t> state_{0};
  // The current job. Written by Run() only after the previous job's items
  // were all claimed *and* finished, so a successful claim proves the fields
  // read before it belong to that claim's job.
  std::atomic<Thunk> thunk_{nullptr};
  std::atomic<void*> arg_{nullptr};
  std::atomic<unsigned> csr_{0};  // caller's FP control state (FpEnv::raw)
  std::atomic<int> done_{0};      // finished items of the current job
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

}  // namespace ecps::model
