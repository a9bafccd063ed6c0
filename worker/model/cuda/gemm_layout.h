// The one translation of the row-major GEMMs of the dense layers (blas.h's
// Gemm contract) into the column-major call cuBLAS takes: a row-major matrix
// read column-major is its transpose, so C = op(A) op(B) becomes
// Cᵀ = op(B)ᵀ op(A)ᵀ: operands swapped, m and n swapped, transposes kept.
// CUDA-free so that tests/model/cuda/reference_test.cc can run the exact
// calls of cuda_dense_model.cc through column-major CBLAS on any machine.
#pragma once

namespace ecps::model::cuda {

struct ColMajorGemm {
  bool trans_a, trans_b;
  int m, n, k;
  const float* a;
  int lda;
  const float* b;
  int ldb;
  float* c;
  int ldc;
};

inline ColMajorGemm ToColMajor(bool trans_a, bool trans_b, int m, int n, int k, const float* a,
                               int lda, const float* b, int ldb, float* c, int ldc) {
  return ColMajorGemm{trans_b, trans_a, n, m, k, b, ldb, a, lda, c, ldc};
}

}  // namespace ecps::model::cuda
