// The product quantisation of the retrieval codecs `pq` and `magpq`
// (docs/methods.md §6.2, §6.4): the one implementation in
// compressors/internal/pq_core.h, which the embedding method `pq` (§2.19c)
// shares, named here for the codecs and trained on a VectorSet.
//
// Thread-safety: as compressors/internal/pq_core.h.
#pragma once

#include <cstdint>
#include <functional>

#include "common/fork_join.h"
#include "compressors/internal/pq_core.h"
#include "vectors/vector_io.h"

namespace ecps::vectors::internal {

using method_internal::PqBytes;
using method_internal::PqCore;

// Trains the codebooks (k-means per subspace, on at most `sample` rows drawn
// by `seed`, `iters` Lloyd rounds) and encodes every row of x.
// REQUIRES: m divides x.dim, 1 <= bits <= 16, x.n >= 1.
inline PqCore TrainPq(const VectorSet& x, int m, int bits, uint64_t sample, int iters,
                      uint64_t seed, ForkJoinPool* pool,
                      const std::function<void(double)>& progress) {
  return method_internal::TrainPq(x.values.data(), x.n, x.dim, m, bits, sample, iters, seed, pool,
                                  progress);
}

}  // namespace ecps::vectors::internal
