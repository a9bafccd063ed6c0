// CPU floating-point environment, and the CPUs this process may use.
#pragma once

#include <sched.h>

#include <algorithm>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace ecps {

// The CPUs this process may run on: its affinity mask (taskset, a container's
// cpuset), which std::thread::hardware_concurrency() ignores; at least 1.
// Default thread counts use it, so a process pinned to one core does not
// start threads that can only take turns.
inline int UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// Flushes denormal results to zero and treats denormal inputs as zero for the
// calling thread (MXCSR FTZ|DAZ). Adam's second moments of rarely-seen rows
// decay into the denormal range, where every operation costs ~100 cycles;
// training threads call this once at start. The PyTorch peer does the same
// (torch.set_flush_denormal). No-op on other architectures.
inline void EnableFlushToZero() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_setcsr(_mm_getcsr() | 0x8040);
#endif
}

}  // namespace ecps
