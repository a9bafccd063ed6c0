#include "compressors/internal/kmeans.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/check.h"
#include "common/rng.h"

namespace ecps::method_internal {
namespace {

// Points per pool item: fixed, so the split does not depend on the threads.
constexpr uint64_t kBlock = 2048;
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
  auto item = [&](size_t b) {
    const uint64_t end = std::min(m, (b + 1) * kBlock);
    for (uint64_t p = b * kBlock; p < end; ++p) {
      const uint32_t a = NearestCentroid(points + p * w, centroids, k, w);
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
