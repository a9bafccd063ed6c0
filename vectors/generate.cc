#include "vectors/generate.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/rng.h"

namespace ecps::vectors {
namespace {

// Rows of the latent drawn and mapped per GEMM (lowrank).
constexpr uint64_t kChunkRows = 16384;

// The mixture's parameters, drawn once from the seed; base and queries
// are then drawn from it with their own streams.
struct Mixture {
  std::vector<double> weights;  // cumulative cluster probabilities
  std::vector<float> centers;   // sift: [k x d] prototypes; lowrank: [k x r] latent centres
  std::vector<float> spread;    // lowrank: s_k
  std::vector<float> basis;     // lowrank: B [r x d]
  std::vector<float> spectrum;  // lowrank: λ [r]
  double noise_sd = 0;          // lowrank: per element
};

uint32_t DrawCluster(const Mixture& m, Rng& rng) {
  const double u = rng.Uniform();
  const auto it = std::upper_bound(m.weights.begin(), m.weights.end(), u);
  return static_cast<uint32_t>(std::min<size_t>(it - m.weights.begin(), m.weights.size() - 1));
}

Mixture MakeMixture(const GenerateOptions& o) {
  Rng rng(o.seed);
  Mixture m;
  const int k = o.clusters, d = o.dim, r = o.rank;
  // Uneven cluster sizes: weights ∝ u^3 (a few large clusters, many small).
  m.weights.resize(k);
  double total = 0;
  for (double& w : m.weights) total += (w = std::pow(rng.Uniform(0.05, 1.0), 3));
  double acc = 0;
  for (double& w : m.weights) w = (acc += w / total);
  if (o.kind == "sift") {
    // A prototype: each of the d bins' typical magnitude (lognormal).
    m.centers.resize(static_cast<size_t>(k) * d);
    for (float& c : m.centers) c = static_cast<float>(std::exp(0.6 * rng.Normal()));
    return m;
  }
  m.centers.resize(static_cast<size_t>(k) * r);
  for (float& c : m.centers) c = static_cast<float>(rng.Normal());
  m.spread.resize(k);
  for (float& s : m.spread) s = static_cast<float>(rng.Uniform(0.3, 1.0));
  m.spectrum.resize(r);
  for (int t = 0; t < r; ++t) m.spectrum[t] = static_cast<float>(std::exp(-2.0 * t / r));
  m.basis.resize(static_cast<size_t>(r) * d);
  const double b = 1.0 / std::sqrt(static_cast<double>(d));
  for (float& v : m.basis) v = static_cast<float>(b * rng.Normal());
  // E‖z‖² = Σ_t (1 + E[s²]·λ_t²) with E[s²] = (1 − 0.027)/(3·0.7) for
  // s ~ U[0.3, 1); ‖z·B‖² ≈ ‖z‖² (B's columns have unit expected norm).
  double signal = 0;
  const double es2 = (1.0 - 0.027) / (3 * 0.7);
  for (int t = 0; t < r; ++t) signal += 1 + es2 * m.spectrum[t] * m.spectrum[t];
  m.noise_sd = o.noise * std::sqrt(signal / d);
  return m;
}

VectorSet DrawSift(const Mixture& m, const GenerateOptions& o, uint64_t n, Rng& rng) {
  VectorSet v;
  v.n = n;
  v.dim = o.dim;
  v.values.resize(n * o.dim);
  const int d = o.dim;
  std::vector<double> u(d);
  for (uint64_t i = 0; i < n; ++i) {
    const float* p = m.centers.data() + static_cast<size_t>(DrawCluster(m, rng)) * d;
    double sq = 0;
    for (int j = 0; j < d; ++j) {
      // Lognormal noise around the prototype, shifted so about 8% of the
      // bins are empty. The constants match sift5k's statistics: 7.9% zeros
      // (sift5k 7.9%), mean 32 (33.5), median 23 (26), 99th percentile 123
      // (119).
      u[j] = std::max(0.0, p[j] * std::exp(0.5 * rng.Normal()) - 0.3);
      sq += u[j] * u[j];
    }
    if (sq == 0) u[0] = sq = 1;
    // SIFT's normalisation: unit length, clip at 0.2, unit length, x512,
    // truncated to 0..255.
    double sq2 = 0;
    for (int j = 0; j < d; ++j) {
      u[j] = std::min(u[j] / std::sqrt(sq), 0.2);
      sq2 += u[j] * u[j];
    }
    float* x = v.values.data() + i * d;
    for (int j = 0; j < d; ++j)
      x[j] = static_cast<float>(std::min(255.0, std::floor(512.0 * u[j] / std::sqrt(sq2))));
  }
  return v;
}

VectorSet DrawLowRank(const Mixture& m, const GenerateOptions& o, uint64_t n, Rng& rng) {
  VectorSet v;
  v.n = n;
  v.dim = o.dim;
  v.values.resize(n * o.dim);
  const int d = o.dim, r = o.rank;
  std::vector<float> z(kChunkRows * r);
  for (uint64_t first = 0; first < n; first += kChunkRows) {
    const uint64_t rows = std::min(kChunkRows, n - first);
    float* x = v.values.data() + first * d;
    // Row by row (latent, then noise), so a set's first rows do not depend
    // on n.
    for (uint64_t i = 0; i < rows; ++i) {
      const uint32_t k = DrawCluster(m, rng);
      const float* c = m.centers.data() + static_cast<size_t>(k) * r;
      for (int t = 0; t < r; ++t)
        z[i * r + t] = c[t] + m.spread[k] * m.spectrum[t] * static_cast<float>(rng.Normal());
      for (int j = 0; j < d; ++j) x[i * d + j] = static_cast<float>(m.noise_sd * rng.Normal());
    }
    // x += z·B (the noise already in x).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), d, r, 1.0f,
                z.data(), r, m.basis.data(), d, 1.0f, x, d);
  }
  return v;
}

}  // namespace

StatusOr<GeneratedSet> Generate(const GenerateOptions& o) {
  if (o.kind != "sift" && o.kind != "lowrank")
    return InvalidArgument("--kind ", o.kind, ": sift or lowrank");
  if (o.n == 0 || o.n > (uint64_t{1} << 32) - 1)
    return InvalidArgument("--n ", o.n, ": in [1, 2^32 - 1]");
  if (o.dim <= 0 || o.dim > (1 << 16)) return InvalidArgument("--dim ", o.dim, ": in [1, 65536]");
  if (o.n * static_cast<uint64_t>(o.dim) > (uint64_t{1} << 34))
    return InvalidArgument("--n ", o.n, " x --dim ", o.dim, ": more than 2^34 values (64 GiB)");
  if (o.clusters <= 0) return InvalidArgument("--clusters ", o.clusters, ": must be >= 1");
  if (o.kind == "lowrank" && (o.rank <= 0 || o.rank > o.dim))
    return InvalidArgument("--rank ", o.rank, ": in [1, --dim ", o.dim, "]");
  if (!(o.noise >= 0) || !std::isfinite(o.noise))
    return InvalidArgument("--noise ", o.noise, ": must be >= 0");
  const Mixture m = MakeMixture(o);
  GeneratedSet out;
  // Separate streams: the base set does not change with the number of
  // queries, nor the queries with n.
  Rng root(o.seed ^ 0x67656e65726174ull);  // "generat"
  Rng base_rng = root.Fork(1), query_rng = root.Fork(2);
  if (o.kind == "sift") {
    out.base = DrawSift(m, o, o.n, base_rng);
    out.queries = DrawSift(m, o, o.queries, query_rng);
  } else {
    out.base = DrawLowRank(m, o, o.n, base_rng);
    out.queries = DrawLowRank(m, o, o.queries, query_rng);
  }
  return out;
}

}  // namespace ecps::vectors
