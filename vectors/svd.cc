// SVD: the truncated singular value decomposition of the matrix
// (docs/methods.md §6.3), through LAPACK (OpenBLAS ships it).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/blas_threads.h"
#include "vectors/internal/methods.h"

// LAPACK's symmetric eigensolver (divide and conquer). OpenBLAS exports the
// Fortran symbol but Debian ships no lapacke.h: the prototype, with
// gfortran's hidden lengths of the two character arguments.
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda,
                        double* w, double* work, const int* lwork, int* iwork, const int* liwork,
                        int* info, size_t jobz_len, size_t uplo_len);

namespace ecps::vectors::internal {

namespace {

// The top `rank` eigenvectors of the symmetric [m x m] `gram` (destroyed),
// largest eigenvalue first, as the rows of a [rank x m] float matrix.
StatusOr<std::vector<float>> TopEigenvectors(std::vector<double>& gram, int m, int rank) {
  std::vector<double> eig(m);
  int lwork = -1, liwork = -1, info = 0;
  double wq;
  int iwq;
  // Row-major upper = column-major lower of the same symmetric matrix.
  dsyevd_("V", "L", &m, gram.data(), &m, eig.data(), &wq, &lwork, &iwq, &liwork, &info, 1, 1);
  if (info != 0) return Unimplemented("LAPACK dsyevd workspace query failed: info ", info);
  lwork = static_cast<int>(wq);
  liwork = iwq;
  std::vector<double> work(lwork);
  std::vector<int> iwork(liwork);
  dsyevd_("V", "L", &m, gram.data(), &m, eig.data(), work.data(), &lwork, iwork.data(), &liwork,
          &info, 1, 1);
  if (info != 0) return Unimplemented("LAPACK dsyevd failed to converge: info ", info);
  // Column-major eigenvectors: eigenvector e is gram[e*m .. e*m + m),
  // eigenvalues ascending.
  std::vector<float> top(static_cast<size_t>(rank) * m);
  for (int t = 0; t < rank; ++t)
    for (int j = 0; j < m; ++j)
      top[static_cast<size_t>(t) * m + j] =
          static_cast<float>(gram[static_cast<size_t>(m - 1 - t) * m + j]);
  return top;
}

}  // namespace

StatusOr<LowRank> FactorMatrix(const float* a, uint64_t rows, uint64_t cols, int rank) {
  if (cols > (1u << 16) && rows > (1u << 16))
    return InvalidArgument("a ", rows, " x ", cols, " matrix: both sides above 65536");
  // The Gram matrix of the smaller side, in double, 4,096 rows (or columns)
  // at a time: its eigenvectors are the singular vectors of that side and its
  // eigenvalues the squared singular values. The paper's randomized SVD
  // approximates exactly this factorisation; at retrieval dimensions the
  // small side's eigenproblem is cheap and exact, and the Gram pass is the
  // whole cost.
  constexpr uint64_t kChunk = 4096;
  LowRank lr;
  lr.rank = rank;
  if (cols <= rows) {
    const int d = static_cast<int>(cols);
    std::vector<double> gram(static_cast<size_t>(d) * d, 0.0);
    std::vector<double> chunk(kChunk * d);
    for (uint64_t r0 = 0; r0 < rows; r0 += kChunk) {
      const uint64_t nr = std::min(kChunk, rows - r0);
      for (uint64_t i = 0; i < nr * d; ++i) chunk[i] = a[r0 * d + i];
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, static_cast<int>(nr), 1.0, chunk.data(),
                  d, 1.0, gram.data(), d);
    }
    ASSIGN_OR_RETURN(lr.vt, TopEigenvectors(gram, d, rank));
    lr.us.resize(rows * rank);  // U·Σ = a·V
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), rank, d, 1.0f, a,
                d, lr.vt.data(), d, 0.0f, lr.us.data(), rank);
    return lr;
  }
  // Wide: a·aᵀ, a chunk of columns at a time; us = U, vt = Σ·Vᵀ = Uᵀ·a.
  const int m = static_cast<int>(rows);
  std::vector<double> gram(static_cast<size_t>(m) * m, 0.0);
  std::vector<double> chunk(rows * kChunk);
  for (uint64_t c0 = 0; c0 < cols; c0 += kChunk) {
    const uint64_t nc = std::min(kChunk, cols - c0);
    for (uint64_t i = 0; i < rows; ++i)
      for (uint64_t j = 0; j < nc; ++j) chunk[i * nc + j] = a[i * cols + c0 + j];
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, m, static_cast<int>(nc), 1.0, chunk.data(),
                static_cast<int>(nc), 1.0, gram.data(), m);
  }
  ASSIGN_OR_RETURN(const std::vector<float> ut, TopEigenvectors(gram, m, rank));
  lr.us.resize(rows * rank);
  for (uint64_t i = 0; i < rows; ++i)
    for (int t = 0; t < rank; ++t) lr.us[i * rank + t] = ut[static_cast<size_t>(t) * m + i];
  lr.vt.resize(static_cast<size_t>(rank) * cols);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rank, static_cast<int>(cols), m, 1.0f,
              ut.data(), m, a, static_cast<int>(cols), 0.0f, lr.vt.data(), static_cast<int>(cols));
  return lr;
}

StatusOr<LowRank> TruncatedSvd(const VectorSet& x, int rank) {
  return FactorMatrix(x.values.data(), x.n, x.dim, rank);
}

namespace {

class SvdCodec final : public VectorCodec {
 public:
  SvdCodec(uint64_t n, int dim, LowRank lr) : VectorCodec(n, dim), lr_(std::move(lr)) {}
  std::string_view method() const override { return "svd"; }
  void Decode(std::span<const uint64_t> ids, float* out) const override {
    // The batch's U·Σ rows gathered, then one GEMM with Vᵀ, on this thread
    // (a team's wake-up costs more than a 1024-row product).
    const int r = lr_.rank;
    std::vector<float> rows(ids.size() * r);
    for (size_t k = 0; k < ids.size(); ++k)
      std::memcpy(rows.data() + k * r, lr_.us.data() + ids[k] * r, r * sizeof(float));
    ScopedBlasThreads one(1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(ids.size()), dim(), r,
                1.0f, rows.data(), r, lr_.vt.data(), dim(), 0.0f, out, dim());
  }
  uint64_t MemoryBytes() const override { return (lr_.us.size() + lr_.vt.size()) * 4; }
  std::string Params() const override { return "rank=" + std::to_string(lr_.rank); }
  void Save(BlobWriter* w) const override {
    w->Pod<int32_t>(lr_.rank);
    w->Vec(lr_.us);
    w->Vec(lr_.vt);
  }

 private:
  LowRank lr_;
};

}  // namespace

Status LoadLowRank(BlobReader* r, uint64_t n, int dim, LowRank* lr) {
  int32_t rank;
  if (!r->Pod(&rank) || !r->Vec(&lr->us) || !r->Vec(&lr->vt)) return r->Truncated();
  lr->rank = rank;
  if (rank < 1 || rank > dim || lr->us.size() != n * rank ||
      lr->vt.size() != static_cast<size_t>(rank) * dim)
    return DataLoss("rank-", rank, " factors of ", lr->us.size(), " + ", lr->vt.size(),
                    " floats for ", n, " x ", dim);
  return OkStatus();
}

CodecOr CompressSvd(const VectorSet& x, const CompressOptions& o) {
  RETURN_IF_ERROR(o.params.OnlyKnown("svd", {"rank"}));
  // r = ⌊n·d·CR / (n + d)⌋ words per factor column, at least 1 (below that
  // the budget is unreachable) and at most d (a full-rank factorisation).
  const double r = std::floor(o.budget * x.n * x.dim / (static_cast<double>(x.n) + x.dim));
  ASSIGN_OR_RETURN(
      const int64_t rank,
      o.params.Int("rank", static_cast<int64_t>(std::clamp(r, 1.0, 1.0 * x.dim)), 1, x.dim));
  // A matrix of fewer rows than d has at most n singular values.
  ASSIGN_OR_RETURN(LowRank lr, TruncatedSvd(x, static_cast<int>(std::min<int64_t>(rank, x.n))));
  if (o.progress) o.progress(1.0);
  return std::unique_ptr<VectorCodec>(new SvdCodec(x.n, x.dim, std::move(lr)));
}

CodecOr LoadSvd(BlobReader* r, uint64_t n, int dim) {
  LowRank lr;
  RETURN_IF_ERROR(LoadLowRank(r, n, dim, &lr));
  return std::unique_ptr<VectorCodec>(new SvdCodec(n, dim, std::move(lr)));
}

}  // namespace ecps::vectors::internal
