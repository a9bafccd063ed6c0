// The number of threads BLAS calls made from the calling thread may use: the
// one guard of OpenBLAS's thread team for the dense backend (worker/model/)
// and the methods' small per-batch GEMMs (TT-Rec's core contractions, DHE's
// MLP, compressors/hashing/).
//
// OpenBLAS (OpenMP build) sizes its thread team from the *calling thread's*
// OpenMP ICV (omp_get_max_threads()) and runs single-threaded inside an
// active OpenMP parallel region. These helpers change only the calling
// thread's ICV, so they never race with BLAS calls made by other threads.
// Thousands of small GEMMs per batch on a team woke it for each call (half of
// a profiled TT-Rec step was libgomp spinning), hence ScopedBlasThreads(1)
// around them.
//
// Header-only: a target that includes it links OpenMP's API
// (OpenMP::OpenMP_CXX); common/ itself does not.
//
// Thread-safety: each call affects the calling thread only.
#pragma once

#include <omp.h>

namespace ecps {

// Sets the number of threads BLAS calls made from *this thread* may use and
// returns the previous number.
inline int ExchangeBlasThreads(int threads) {
  const int saved = omp_get_max_threads();
  if (threads != saved) omp_set_num_threads(threads);
  return saved;
}

// Sets the number of threads BLAS calls made from *this thread* may use, for
// the lifetime of the object (restores the previous value on destruction).
class ScopedBlasThreads {
 public:
  explicit ScopedBlasThreads(int threads) : saved_(omp_get_max_threads()) {
    if (threads != saved_) omp_set_num_threads(threads);
  }
  ~ScopedBlasThreads() {
    if (omp_get_max_threads() != saved_) omp_set_num_threads(saved_);
  }
  ScopedBlasThreads(const ScopedBlasThreads&) = delete;
  ScopedBlasThreads& operator=(const ScopedBlasThreads&) = delete;

 private:
  int saved_;
};

}  // namespace ecps
