#include "worker/model/task_pool.h"

#include <omp.h>

#include "common/check.h"
#include "worker/model/blas.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ECPS_CPU_RELAX() _mm_pause()
#else
#define ECPS_CPU_RELAX() ((void)0)
#endif

namespace ecps::model {
namespace {

// Spin iterations before a thread sleeps. Short: back-to-back jobs (forward,
// loss, backward, optimizer) arrive within microseconds, but spinning longer
// would take the core away from the trainer's other threads.
constexpr int kSpin = 2000;

constexpr uint64_t Pack(uint32_t gen, uint32_t n, uint32_t next) {
  return (static_cast<uint64_t>(gen) << 32) | (static_cast<uint64_t>(n) << 16) | next;
}
constexpr uint32_t Gen(uint64_t s) { return static_cast<uint32_t>(s >> 32); }
constexpr uint32_t Count(uint64_t s) { return static_cast<uint32_t>(s >> 16) & 0xffff; }
constexpr uint32_t Next(uint64_t s) { return static_cast<uint32_t>(s) & 0xffff; }

}  // namespace

TaskPool::TaskPool(int threads) {
  ECPS_CHECK_GE(threads, 1);
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

TaskPool::~TaskPool() {
  stop_.store(true);
  state_.store(Pack(Gen(state_.load()) + 1, 0, 0));
  state_.notify_all();
  for (auto& t : workers_) t.join();
}

void TaskPool::RunImpl(int n, Thunk thunk, void* arg) {
  ECPS_CHECK(n >= 0 && n < 0x10000) << "n=" << n;
  if (n == 0) return;
  ScopedBlasThreads blas(1);
  if (workers_.empty() || n == 1) {
    for (int i = 0; i < n; ++i) thunk(arg, i);
    return;
  }
  // The previous job is complete (all items claimed and done), so nobody
  // reads these fields under the old generation any more.
  thunk_.store(thunk);
  arg_.store(arg);
  csr_.store(FpEnv::Capture().raw());
  done_.store(0);
  const uint32_t gen = Gen(state_.load()) + 1;
  state_.store(Pack(gen, static_cast<uint32_t>(n), 0));
  state_.notify_all();
  Drain(gen);
  int spins = 0;
  for (int d = done_.load(); d < n; d = done_.load()) {
    if (++spins < kSpin) {
      ECPS_CPU_RELAX();
    } else {
      done_.wait(d);  // the thread finishing the last item notifies
    }
  }
}

void TaskPool::Drain(uint32_t gen) {
  for (;;) {
    uint64_t s = state_.load();
    if (Gen(s) != gen || Next(s) >= Count(s)) return;
    // Read before the claim: a successful CAS below proves the job was still
    // incomplete, so these are the fields of job `gen` (see header).
    const Thunk thunk = thunk_.load();
    void* const arg = arg_.load();
    if (!state_.compare_exchange_weak(s, s + 1)) continue;
    thunk(arg, static_cast<int>(Next(s)));
    if (done_.fetch_add(1) + 1 == static_cast<int>(Count(s))) done_.notify_all();
  }
}

void TaskPool::WorkerLoop() {
  omp_set_num_threads(1);  // this thread's BLAS calls stay single-threaded
  uint32_t seen = Gen(state_.load());
  int spins = 0;
  for (;;) {
    const uint64_t s = state_.load();
    if (stop_.load()) return;
    if (Gen(s) == seen) {
      if (++spins < kSpin) {
        ECPS_CPU_RELAX();
      } else {
        state_.wait(s);
      }
      continue;
    }
    seen = Gen(s);
    spins = 0;
    FpEnv(csr_.load()).Apply();
    Drain(seen);
  }
}

}  // namespace ecps::model
