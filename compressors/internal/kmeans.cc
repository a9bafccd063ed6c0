#include "compressors/internal/kmeans.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "common/check.h"
#include "common/rng.h"

namespace ecps::method_internal {
namespace {

// Points per pool item: fixed, so the split does not depend on the threads.
constexpr uint64_t kBlock = 2048;
// Centroids per block of NearestCentroids::Nearest's distances.
constexpr uint64_t kLanes = 256;

// An AVX2 copy besides the baseline one (embedding/sparse_optimizer.cc):
// without FMA in either, both give the same bits on every CPU, which every
// replica of a cluster relies on.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ECPS_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define ECPS_MULTIVERSION
#endif

// out[r] = squared distance of v to centroid r0 + r, for r < n, from the
// transposed centroids ct ([w x k]): per lane (t_0)^2 + (t_1)^2 + ... in
// coordinate order, as SquaredDistance sums it.
ECPS_MULTIVERSION void BlockDistances(const float* v, const float* ct, uint64_t k, int w,
                                      uint64_t r0, uint64_t n, float* out) {
  for (uint64_t r = 0; r < n; ++r) out[r] = 0.0f;
  for (int j = 0; j < w; ++j) {
    const float vj = v[j];
    const float* c = ct + static_cast<uint64_t>(j) * k + r0;
    for (uint64_t r = 0; r < n; ++r) {
      const float t = vj - c[r];
      out[r] += t * t;
    }
  }
}
// faiss's perturbation of a split centroid.
constexpr float kSplitEps = 1.0f / 1024.0f;

// NearestCentroid with w known at compile time (the same arithmetic, in the
// same order, as the general loop: only the loop overhead goes).
template <int W>
uint32_t NearestFixed(const float* v, const float* c, uint64_t k) {
  uint32_t best = 0;
  float best_d = 0;
  for (uint64_t r = 0; r < k; ++r, c += W) {
    float s = 0;
    for (int j = 0; j < W; ++j) {
      const float t = v[j] - c[j];
      s += t * t;
    }
    if (r == 0 || s < best_d) {
      best_d = s;
      best = static_cast<uint32_t>(r);
    }
  }
  return best;
}

// assign[p] = the centroid nearest to point p, for every point; returns how
// many points changed their centroid.
uint64_t AssignAll(const float* points, uint64_t m, int w, const float* centroids, uint64_t k,
                   uint32_t* assign, ForkJoinPool* pool) {
  const uint64_t blocks = (m + kBlock - 1) / kBlock;
  std::vector<uint64_t> changed(blocks, 0);
  const NearestCentroids nearest(centroids, k, w);
  auto item = [&](size_t b) {
    const uint64_t end = std::min(m, (b + 1) * kBlock);
    for (uint64_t p = b * kBlock; p < end; ++p) {
      const uint32_t a = nearest.Nearest(points + p * w);
      changed[b] += a != assign[p];
      assign[p] = a;
    }
  };
  if (pool != nullptr && blocks > 1) {
    pool->Run(blocks, item);
  } else {
    for (uint64_t b = 0; b < blocks; ++b) item(b);
  }
  return std::accumulate(changed.begin(), changed.end(), uint64_t{0});
}

// lane_d[l], lane_r[l] = the first smallest of dist[g * 8 + l] over the
// groups g, kept if smaller than what the lane holds (strictly: an earlier
// centroid wins a tie). n is a multiple of 8. GCC's vector extensions: one
// compare and two selects per group of 8 (the compiler does not turn the
// scalar form into them).
using Floats8 = float __attribute__((vector_size(32)));
using Ints8 = int32_t __attribute__((vector_size(32)));
using Uints8 = uint32_t __attribute__((vector_size(32)));
ECPS_MULTIVERSION void LaneMinima(const float* dist, uint64_t n, uint32_t first, float* lane_d,
                                  uint32_t* lane_r) {
  Floats8 ld;
  Uints8 lr;
  std::memcpy(&ld, lane_d, sizeof(ld));
  std::memcpy(&lr, lane_r, sizeof(lr));
  Uints8 idx = {0, 1, 2, 3, 4, 5, 6, 7};
  idx += first;
  for (uint64_t g = 0; g < n; g += 8, idx += 8) {
    Floats8 d;
    std::memcpy(&d, dist + g, sizeof(d));
    const Ints8 lt = d < ld;
    ld = lt ? d : ld;
    lr = lt ? idx : lr;
  }
  std::memcpy(lane_d, &ld, sizeof(ld));
  std::memcpy(lane_r, &lr, sizeof(lr));
}

}  // namespace

uint32_t NearestCentroid(const float* v, const float* centroids, uint64_t k, int w) {
  switch (w) {
    case 1:
      return NearestFixed<1>(v, centroids, k);
    case 2:
      return NearestFixed<2>(v, centroids, k);
    case 4:
      return NearestFixed<4>(v, centroids, k);
    case 8:
      return NearestFixed<8>(v, centroids, k);
    default:
      break;
  }
  uint32_t best = 0;
  float best_d = 0;
  for (uint64_t r = 0; r < k; ++r) {
    const float s = SquaredDistance(v, centroids + r * w, w);
    if (r == 0 || s < best_d) {
      best_d = s;
      best = static_cast<uint32_t>(r);
    }
  }
  return best;
}

NearestCentroids::NearestCentroids(const float* centroids, uint64_t k, int w)
    : k_(k), w_(w), transposed_(k * static_cast<uint64_t>(w)) {
  for (uint64_t r = 0; r < k; ++r)
    for (int j = 0; j < w; ++j)
      transposed_[static_cast<uint64_t>(j) * k + r] = centroids[r * w + j];
}

uint32_t NearestCentroids::Nearest(const float* v) const {
  // Per lane l the first smallest distance among the centroids r = l mod 8
  // (branch-free, so it vectorises), then the smallest over the lanes with
  // the smaller index on ties: the first smallest overall, as the plain
  // loop finds it. (Distances are finite: the stores refuse non-finite
  // rows.)
  float dist[kLanes];
  float lane_d[8];
  uint32_t lane_r[8];
  std::fill(lane_d, lane_d + 8, std::numeric_limits<float>::infinity());
  std::fill(lane_r, lane_r + 8, 0u);
  for (uint64_t r0 = 0; r0 < k_; r0 += kLanes) {
    const uint64_t n = std::min(kLanes, k_ - r0);
    BlockDistances(v, transposed_.data(), k_, w_, r0, n, dist);
    // Pad the block to whole groups of 8 with distances no lane takes.
    const uint64_t padded = (n + 7) / 8 * 8;
    for (uint64_t r = n; r < padded; ++r) dist[r] = std::numeric_limits<float>::infinity();
    LaneMinima(dist, padded, static_cast<uint32_t>(r0), lane_d, lane_r);
  }
  uint32_t best = std::numeric_limits<uint32_t>::max();
  float best_d = std::numeric_limits<float>::infinity();
  for (int l = 0; l < 8; ++l)
    if (lane_d[l] < best_d || (lane_d[l] == best_d && lane_r[l] < best)) {
      best_d = lane_d[l];
      best = lane_r[l];
    }
  // Every distance infinite: the first centroid, as the plain loop picks.
  return best_d == std::numeric_limits<float>::infinity() ? 0 : best;
}

std::vector<float> KMeans(std::span<const float> points, uint64_t m, int w, uint64_t k, int iters,
                          uint64_t seed, ForkJoinPool* pool) {
  ECPS_CHECK(k >= 1 && w >= 1 && points.size() == m * static_cast<uint64_t>(w));
  Rng rng(seed);
  std::vector<float> c(k * w);
  if (m <= k) {
    // Nothing to cluster: every point is a centroid of its own, and the
    // centroids no point needs are random (the reference's rule).
    std::copy(points.begin(), points.end(), c.begin());
    const double scale = 1.0 / std::sqrt(static_cast<double>(w));
    for (uint64_t i = m * w; i < k * w; ++i) c[i] = static_cast<float>(rng.Normal() * scale);
    return c;
  }
  // k distinct points: the first k of a random permutation (partial
  // Fisher-Yates).
  std::vector<uint64_t> perm(m);
  std::iota(perm.begin(), perm.end(), uint64_t{0});
  for (uint64_t i = 0; i < k; ++i) {
    const uint64_t j = i + rng.Below(m - i);
    std::swap(perm[i], perm[j]);
    std::copy(points.begin() + perm[i] * w, points.begin() + (perm[i] + 1) * w, c.begin() + i * w);
  }
  // No point has a centroid yet (k is a valid one, so every point changes).
  std::vector<uint32_t> assign(m, static_cast<uint32_t>(k));
  std::vector<double> sums(k * w);
  std::vector<uint64_t> counts(k);
  bool split = true;
  for (int it = 0; it < iters; ++it) {
    // Lloyd's fixed point: the same assignment as last round, whose centroids
    // needed no split, gives the same centroids again, so every further
    // round would too. Stopping there returns what `iters` rounds would.
    const uint64_t changed = AssignAll(points.data(), m, w, c.data(), k, assign.data(), pool);
    if (changed == 0 && !split) break;
    split = false;
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (uint64_t p = 0; p < m; ++p) {
      const uint64_t a = assign[p];
      ++counts[a];
      for (int j = 0; j < w; ++j) sums[a * w + j] += points[p * w + j];
    }
    for (uint64_t r = 0; r < k; ++r)
      if (counts[r] > 0)
        for (int j = 0; j < w; ++j)
          c[r * w + j] = static_cast<float>(sums[r * w + j] / static_cast<double>(counts[r]));
    // Empty clusters take over half of a populated one, picked with
    // probability (size - 1) / (m - k) in a round-robin scan (faiss). The
    // scan ends: some cluster has more than one point while one is empty.
    for (uint64_t r = 0; r < k; ++r) {
      if (counts[r] != 0) continue;
      uint64_t j = 0;
      for (;; j = (j + 1) % k) {
        const double p = (static_cast<double>(counts[j]) - 1.0) / static_cast<double>(m - k);
        if (rng.Uniform() < p) break;
      }
      for (int e = 0; e < w; ++e) {
        const float v = c[j * w + e];
        const bool even = e % 2 == 0;
        c[r * w + e] = v * (even ? 1 + kSplitEps : 1 - kSplitEps);
        c[j * w + e] = v * (even ? 1 - kSplitEps : 1 + kSplitEps);
      }
      counts[r] = counts[j] / 2;
      counts[j] -= counts[r];
      split = true;
    }
  }
  return c;
}

}  // namespace ecps::method_internal
