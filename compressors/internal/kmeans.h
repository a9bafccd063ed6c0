// Deterministic Lloyd k-means for the methods that re-cluster their rows
// (CCE, docs/methods.md §2.3b). It follows faiss's Clustering as CCE's
// reference code calls it (faiss.Kmeans with min_points_per_centroid = 1 and
// no subsampling: the caller samples): the initial centroids are k distinct
// points drawn at random, then `iters` rounds of (assign every point to its
// nearest centroid, move each centroid to the mean of its points), and a
// centroid left without points takes over half of a populated cluster
// (chosen with probability (size - 1) / (m - k)) with a small symmetric
// perturbation of both.
//
// Same inputs and seed, same result, on every machine and with any number of
// threads: each point's nearest centroid is computed on its own (the pool's
// items have fixed meanings), the sums run sequentially in double, and
// distances are plain float sums in coordinate order. The distance is the
// fused loop, not a GEMM: CCE's points have d / chunks coordinates (4 at the
// defaults), where a GEMM would write an m x k distance matrix that costs
// more than the arithmetic, and its rounding would depend on the BLAS's
// blocking and thread count, on which every replica of a cluster must agree.
//
// Thread-safety: pure functions; `pool` (may be null) runs their items.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/fork_join.h"

namespace ecps::method_internal {

// The centroids [k x w] of `points` ([m x w], row-major). With m <= k the
// points are the first m centroids and the other k - m are N(0, 1)/sqrt(w)
// draws (the reference's rule: no clustering to do). REQUIRES: k >= 1, w >= 1.
std::vector<float> KMeans(std::span<const float> points, uint64_t m, int w, uint64_t k, int iters,
                          uint64_t seed, ForkJoinPool* pool);

// Squared L2 distance of a and b (w floats), summed in coordinate order.
inline float SquaredDistance(const float* a, const float* b, int w) {
  float s = 0;
  for (int j = 0; j < w; ++j) {
    const float t = a[j] - b[j];
    s += t * t;
  }
  return s;
}

// The index of the centroid nearest to `v` (the smallest index on ties).
uint32_t NearestCentroid(const float* v, const float* centroids, uint64_t k, int w);

// NearestCentroid for many points against one set of centroids, with the
// same result bit for bit: the centroids are kept transposed (coordinate-
// major), so the distances to a block of centroids are computed lane by lane
// (each one still a float sum in coordinate order) and vectorise.
class NearestCentroids {
 public:
  // centroids: [k x w], row-major. REQUIRES: k >= 1, w >= 1.
  NearestCentroids(const float* centroids, uint64_t k, int w);
  uint32_t Nearest(const float* v) const;

 private:
  uint64_t k_;
  int w_;
  std::vector<float> transposed_;  // [w x k]
};

}  // namespace ecps::method_internal
