#include "common/fork_join.h"

#include <algorithm>

#include "common/check.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ECPS_CPU_RELAX() _mm_pause()
#else
#define ECPS_CPU_RELAX() ((void)0)
#endif

namespace ecps {
namespace {

// Items of one job: the count and the next item share 16 bits each of state_.
constexpr size_t kMaxJob = 0xffff;

constexpr uint64_t Pack(uint32_t gen, uint32_t n, uint32_t next) {
  return (static_cast<uint64_t>(gen) << 32) | (static_cast<uint64_t>(n) << 16) | next;
}
constexpr uint32_t Gen(uint64_t s) { return static_cast<uint32_t>(s >> 32); }
constexpr uint32_t Count(uint64_t s) { return static_cast<uint32_t>(s >> 16) & 0xffff; }
constexpr uint32_t Next(uint64_t s) { return static_cast<uint32_t>(s) & 0xffff; }

// The calling thread's floating-point control state (x86 MXCSR).
unsigned CaptureFpEnv() {
#if defined(__SSE__)
  return _mm_getcsr();
#else
  return 0;
#endif
}
void ApplyFpEnv(unsigned csr) {
#if defined(__SSE__)
  if (_mm_getcsr() != csr) _mm_setcsr(csr);
#endif
}

// ForkJoinOptions::exchange_setting for the caller's part of a Run().
class ScopedSetting {
 public:
  explicit ScopedSetting(const ForkJoinOptions& o) : exchange_(o.exchange_setting) {
    if (exchange_ != nullptr) saved_ = exchange_(o.item_setting);
  }
  ~ScopedSetting() {
    if (exchange_ != nullptr) exchange_(saved_);
  }
  ScopedSetting(const ScopedSetting&) = delete;
  ScopedSetting& operator=(const ScopedSetting&) = delete;

 private:
  int (*exchange_)(int);
  int saved_ = 0;
};

}  // namespace

ForkJoinPool::ForkJoinPool(const ForkJoinOptions& options) : opt_(options) {
  ECPS_CHECK_GE(opt_.threads, 1);
  for (int i = 1; i < opt_.threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ForkJoinPool::~ForkJoinPool() {
  stop_.store(true);
  state_.store(Pack(Gen(state_.load()) + 1, 0, 0));
  state_.notify_all();
  for (auto& t : workers_) t.join();
}

void ForkJoinPool::RunImpl(size_t n, Thunk thunk, void* arg) {
  if (n == 0) return;
  ScopedSetting setting(opt_);
  // The pool threads serve one Run() at a time; a concurrent (or nested)
  // caller does its own items rather than queueing behind another's.
  bool free = false;
  if (n == 1 || workers_.empty() || !owned_.compare_exchange_strong(free, true)) {
    for (size_t i = 0; i < n; ++i) thunk(arg, i);
    return;
  }
  struct Release {
    std::atomic<bool>* owned;
    ~Release() { owned->store(false); }
  } release{&owned_};
  // The previous job is complete (all items claimed and done), so nobody
  // reads these fields under the old generation any more.
  thunk_.store(thunk);
  arg_.store(arg);
  csr_.store(CaptureFpEnv());
  for (size_t base = 0; base < n; base += kMaxJob)
    RunJob(static_cast<uint32_t>(std::min(kMaxJob, n - base)), base);
}

void ForkJoinPool::RunJob(uint32_t n, size_t base) {
  base_.store(base);
  done_.store(0);
  const uint32_t gen = Gen(state_.load()) + 1;
  state_.store(Pack(gen, n, 0));
  state_.notify_all();
  Drain(gen);
  int spins = 0;
  for (int d = done_.load(); d < static_cast<int>(n); d = done_.load()) {
    if (++spins < opt_.spin) {
      ECPS_CPU_RELAX();
    } else {
      done_.wait(d);  // the thread finishing the last item notifies
    }
  }
}

void ForkJoinPool::Drain(uint32_t gen) {
  for (;;) {
    uint64_t s = state_.load();
    if (Gen(s) != gen || Next(s) >= Count(s)) return;
    // Read before the claim: a successful CAS below proves the job was still
    // incomplete, so these are the fields of job `gen` (see header).
    const Thunk thunk = thunk_.load();
    void* const arg = arg_.load();
    const size_t base = base_.load();
    if (!state_.compare_exchange_weak(s, s + 1)) continue;
    thunk(arg, base + Next(s));
    if (done_.fetch_add(1) + 1 == static_cast<int>(Count(s))) done_.notify_all();
  }
}

void ForkJoinPool::WorkerLoop() {
  if (opt_.exchange_setting != nullptr) opt_.exchange_setting(opt_.item_setting);
  uint32_t seen = Gen(state_.load());
  int spins = 0;
  for (;;) {
    const uint64_t s = state_.load();
    if (stop_.load()) return;
    if (Gen(s) == seen) {
      if (++spins < opt_.spin) {
        ECPS_CPU_RELAX();
      } else {
        state_.wait(s);
      }
      continue;
    }
    seen = Gen(s);
    spins = 0;
    ApplyFpEnv(csr_.load());
    Drain(seen);
  }
}

}  // namespace ecps
