// DLRM dot interaction: for each sample, Z is m vectors of dimension d
// ([m x d] row-major) and the output is the strict lower triangle of Z·Zᵀ,
// pairs (i, j) with i > j in row-major order (i = 1..m-1, j = 0..i-1):
// m(m-1)/2 values. For Criteo DLRM m = 27 (bottom output + 26 embeddings),
// d = 16, 351 values. No parameters.
//
// The per-sample products are tiny (27x16), so they are hand-written loops
// rather than BLAS calls (cpu_kernels.h). Thread-safety: const methods only.
#pragma once

#include <cstddef>

#include "worker/model/cpu_kernels.h"

namespace ecps::model {

template <typename T>
class DotInteraction {
 public:
  DotInteraction() = default;
  DotInteraction(int m, int d) : m_(m), d_(d) {}

  int num_vectors() const { return m_; }
  int dim() const { return d_; }
  int out_size() const { return m_ * (m_ - 1) / 2; }
  // Scratch elements Forward/Backward need (independent of the batch).
  size_t scratch_size() const { return InteractionScratchSize(m_, d_); }

  // z: [n x m x d]; out: [n x out_size()] with leading dimension ldo.
  void Forward(int n, const T* z, T* out, int ldo, T* scratch) const {
    DotInteractionForward(n, m_, d_, z, out, ldo, scratch);
  }
  // dout: [n x out_size()] (ld lddo); dz: [n x m x d], overwritten.
  void Backward(int n, const T* z, const T* dout, int lddo, T* dz, T* scratch) const {
    DotInteractionBackward(n, m_, d_, z, dout, lddo, dz, scratch);
  }

 private:
  int m_ = 0, d_ = 0;
};

}  // namespace ecps::model
