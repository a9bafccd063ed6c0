// Product quantisation of a matrix: the codebooks and bit-packed codes. The
// one implementation of PQ: the retrieval codecs `pq` and `magpq`
// (vectors/, docs/methods.md §6.2, §6.4, through vectors/internal/pq_core.h)
// and the embedding method `pq` (compressors/quantization/pq.h, §2.19c),
// whose codes live on the row store and whose codebooks are its state.
//
// Thread-safety: immutable once trained; Decode may run concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "common/blob.h"
#include "common/fork_join.h"
#include "common/status.h"

namespace ecps::method_internal {

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
  // The reconstruction of one row from its m unpacked codes (each < k()),
  // into out [dim]: what DecodeRow writes for a row of those codes.
  void DecodeCodes(const uint32_t* row_codes, float* out) const;
  // Appends the codes of `count` rows ([count x dim], row-major) to codes:
  // each subspace's nearest centroid (the smallest index on ties); n grows
  // by count. `pool` (may be null) runs blocks of rows.
  void EncodeRows(const float* rows, uint64_t count, ForkJoinPool* pool);
  void Save(BlobWriter* w) const;
  // Reads what Save wrote; checks the shape against dim.
  Status Load(BlobReader* r, int dim);
};

// Bytes of a PQ of n rows, dim d, m subspaces of `bits` bits.
uint64_t PqBytes(uint64_t n, int d, int m, int bits);

// The rows of n that train the codebooks: min(sample, n) of them, a seeded
// partial Fisher-Yates draw, ascending (faiss trains on a random subset of
// at most 256 points per centroid).
std::vector<uint64_t> PqSampleRows(uint64_t n, uint64_t sample, uint64_t seed);

// A PQ of dimension `dim` with its codebooks trained on `s` sample rows
// ([s x dim]): k-means per subspace (compressors/internal/kmeans.h, `iters`
// Lloyd rounds, seeded by `seed` and the subspace), no codes yet (n = 0).
// `progress` gets the done fraction after each subspace.
// REQUIRES: m divides dim, 1 <= bits <= 16, s >= 1.
PqCore TrainPqCodebooks(const float* sample, uint64_t s, int dim, int m, int bits, int iters,
                        uint64_t seed, ForkJoinPool* pool,
                        const std::function<void(double)>& progress);

// Trains the codebooks on PqSampleRows(n, sample, seed) of x ([n x dim]) and
// encodes every row of x.
// REQUIRES: m divides dim, 1 <= bits <= 16, n >= 1.
PqCore TrainPq(const float* x, uint64_t n, int dim, int m, int bits, uint64_t sample, int iters,
               uint64_t seed, ForkJoinPool* pool, const std::function<void(double)>& progress);

}  // namespace ecps::method_internal
