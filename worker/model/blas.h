// Thin typed wrappers over CBLAS (OpenBLAS) used by the CPU dense layers, so
// that the same layer template runs in float (training) and double (gradient
// checks). All matrices are row-major.
//
// Threading: ExchangeBlasThreads / ScopedBlasThreads (common/blas_threads.h)
// set the calling thread's BLAS team size.
#pragma once

#include <cblas.h>

#include "common/blas_threads.h"
#include "common/fork_join.h"

namespace ecps::model {

// C[m x n] = alpha * op(A) * op(B) + beta * C, row-major.
//   op(A) is [m x k] (A is [k x m] when trans_a), leading dimension lda.
//   op(B) is [k x n] (B is [n x k] when trans_b), leading dimension ldb.
inline void Gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void Gemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a,
                 int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// y[m or n] = alpha * op(A) * x + beta * y, A is [m x n] row-major with
// leading dimension lda; op(A) = Aᵀ when trans.
inline void Gemv(bool trans, int m, int n, float alpha, const float* a, int lda, const float* x,
                 float beta, float* y) {
  cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, m, n, alpha, a, lda, x, 1, beta, y,
              1);
}
inline void Gemv(bool trans, int m, int n, double alpha, const double* a, int lda, const double* x,
                 double beta, double* y) {
  cblas_dgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, m, n, alpha, a, lda, x, 1, beta, y,
              1);
}

using ecps::ExchangeBlasThreads;
using ecps::ScopedBlasThreads;

// The options of the dense backend's fork-join pools (common/fork_join.h):
// items call BLAS single-threaded on every thread (the caller's own count is
// restored after each Run()), and a waiting thread spins a little first:
// the jobs of a step (forward, backward, optimizer) come back to back within
// microseconds, while spinning longer would take the core away from the
// trainer's other threads.
inline ForkJoinOptions DensePoolOptions(int threads) {
  return {.threads = threads,
          .spin = 2000,
          .exchange_setting = &ExchangeBlasThreads,
          .item_setting = 1};
}

}  // namespace ecps::model
