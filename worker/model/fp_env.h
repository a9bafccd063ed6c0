// Propagates the caller's floating-point control state (x86 MXCSR: flush-to-
// zero, denormals-are-zero, rounding) to the OpenMP worker threads of the CPU
// dense backend. The trainer enables FTZ/DAZ in its own thread; without this
// the worker threads would round denormals differently from the caller and
// results would depend on which thread ran a shard.
#pragma once

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace ecps::model {

class FpEnv {
 public:
  // Captures the calling thread's state.
  static FpEnv Capture() {
    FpEnv e;
#if defined(__SSE__)
    e.csr_ = _mm_getcsr();
#endif
    return e;
  }
  FpEnv() = default;
  explicit FpEnv(unsigned raw) : csr_(raw) {}
  unsigned raw() const { return csr_; }
  // Applies the captured state to the calling thread (call inside a worker).
  void Apply() const {
#if defined(__SSE__)
    if (_mm_getcsr() != csr_) _mm_setcsr(csr_);
#endif
  }

 private:
  unsigned csr_ = 0;
};

}  // namespace ecps::model
