// Product quantisation of a matrix: the codebooks and bit-packed codes that
// `pq` and `magpq` store (docs/methods.md §6.2, §6.4).
//
// Thread-safety: immutable once trained; Decode may run concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "common/blob.h"
#include "common/fork_join.h"
#include "vectors/vector_io.h"

namespace ecps::vectors::internal {

struct PqCore {
  int dim = 0;
  int m = 0;     // subspaces; divides dim
  int bits = 0;  // per code, 1..16: k = 2^bits centroids per subspace
  uint64_t n = 0;
  // [m x 2^bits x dim/m]: subspace j's centroid c is at (j * 2^bits + c) * dsub.
  std::vector<float> centroids;
  // n rows of RowBytes() bytes; code j of a row at bits [j*bits, (j+1)*bits),
  // least significant bit first.
  std::vector<uint8_t> codes;

  int dsub() const { return dim / m; }
  uint64_t k() const { return uint64_t{1} << bits; }
  uint64_t RowBytes() const { return (static_cast<uint64_t>(m) * bits + 7) / 8; }
  uint64_t MemoryBytes() const { return codes.size() + centroids.size() * 4; }
  uint32_t Code(uint64_t row, int j) const;
  // Writes row `row`'s reconstruction into out [dim].
  void DecodeRow(uint64_t row, float* out) const;
  // DecodeRow of every id into out [ids.size() x dim]: the same values; with
  // 8-bit codes one loop over the batch per subspace width (AVX2 where the
  // CPU has it) that prefetches the code rows ahead of their ids.
  void DecodeRows(std::span<const uint64_t> ids, float* out) const;
  void Save(BlobWriter* w) const;
  // Reads what Save wrote; checks the shape against dim.
  Status Load(BlobReader* r, int dim);
};

// Bytes of a PQ of n rows, dim d, m subspaces of `bits` bits.
uint64_t PqBytes(uint64_t n, int d, int m, int bits);

// Trains the codebooks (k-means per subspace, on at most `sample` rows drawn
// by `seed`, `iters` Lloyd rounds) and encodes every row of x.
// REQUIRES: m divides x.dim, 1 <= bits <= 16.
PqCore TrainPq(const VectorSet& x, int m, int bits, uint64_t sample, int iters, uint64_t seed,
               ForkJoinPool* pool, const std::function<void(double)>& progress);

}  // namespace ecps::vectors::internal
