// CPU floating-point environment.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace ecps {

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
