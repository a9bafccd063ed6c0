// The methods' entry points (one file per method under vectors/) and the
// pieces they share: docs/methods.md §6. Not part of the API: use
// vectors/codec.h.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/blob.h"
#include "vectors/codec.h"

namespace ecps::vectors::internal {

using CodecOr = StatusOr<std::unique_ptr<VectorCodec>>;

CodecOr CompressInt8(const VectorSet& x, const CompressOptions& o);
CodecOr CompressInt16(const VectorSet& x, const CompressOptions& o);
CodecOr LoadScalar(BlobReader* r, uint64_t n, int dim);
CodecOr CompressPq(const VectorSet& x, const CompressOptions& o);
CodecOr LoadPq(BlobReader* r, uint64_t n, int dim);
CodecOr CompressSvd(const VectorSet& x, const CompressOptions& o);
CodecOr LoadSvd(BlobReader* r, uint64_t n, int dim);
CodecOr CompressPruning(const VectorSet& x, const CompressOptions& o);
CodecOr LoadPruning(BlobReader* r, uint64_t n, int dim);
CodecOr CompressMagPq(const VectorSet& x, const CompressOptions& o);
CodecOr LoadMagPq(BlobReader* r, uint64_t n, int dim);
CodecOr CompressMagSvd(const VectorSet& x, const CompressOptions& o);
CodecOr LoadMagSvd(BlobReader* r, uint64_t n, int dim);
CodecOr CompressTt(const VectorSet& x, const CompressOptions& o);
CodecOr LoadTt(BlobReader* r, uint64_t n, int dim);
CodecOr CompressRaBitQ(const VectorSet& x, const CompressOptions& o);
CodecOr LoadRaBitQ(BlobReader* r, uint64_t n, int dim);
CodecOr CompressDedup(const VectorSet& x, const CompressOptions& o);
CodecOr LoadDedup(BlobReader* r, uint64_t n, int dim);

// §6.4's magnitude groups: the rows sorted by L2 norm (descending, ties by
// row), cut into `groups` runs of equal total norm. order[p] is the row at
// sorted position p; begin has groups + 1 entries (begin[g] .. begin[g+1]
// are group g's positions). A group may be empty.
struct MagnitudeGroups {
  std::vector<uint32_t> order;
  std::vector<uint64_t> begin;
};
MagnitudeGroups SplitByMagnitude(const VectorSet& x, int groups);

// The rows `rows` of x, copied ([rows.size() x d]).
VectorSet Gather(const VectorSet& x, const uint32_t* rows, uint64_t count);

// A truncated SVD factor pair of an [n x d] matrix: x ≈ us · vt with us
// [n x rank] (U·Σ) and vt [rank x d].
struct LowRank {
  int rank = 0;
  std::vector<float> us;
  std::vector<float> vt;
};
// The best rank-`rank` approximation of x (the top right singular vectors
// from LAPACK's dsyevd on the double Gram matrix xᵀx). REQUIRES: 1 <= rank <= d.
StatusOr<LowRank> TruncatedSvd(const VectorSet& x, int rank);
// The best rank-`rank` factorisation a ≈ us·vt of a row-major [rows x cols]
// matrix, by the eigenvectors of the smaller side's Gram matrix: with
// cols <= rows us = U·Σ and vt = Vᵀ, else us = U and vt = Σ·Vᵀ.
// REQUIRES: 1 <= rank <= min(rows, cols).
StatusOr<LowRank> FactorMatrix(const float* a, uint64_t rows, uint64_t cols, int rank);
// Reads the factors svd and magsvd save (rank, us, vt) of an n x dim matrix.
Status LoadLowRank(BlobReader* r, uint64_t n, int dim, LowRank* lr);

// out [d] = us_row [rank] · vt [rank x d].
inline void ProjectRow(const float* us_row, const float* vt, int rank, int d, float* out) {
  for (int j = 0; j < d; ++j) out[j] = 0.0f;
  for (int t = 0; t < rank; ++t) {
    const float a = us_row[t];
    const float* v = vt + static_cast<size_t>(t) * d;
    for (int j = 0; j < d; ++j) out[j] += a * v[j];
  }
}

}  // namespace ecps::vectors::internal
