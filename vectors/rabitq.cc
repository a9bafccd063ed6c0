// RaBitQ (Gao and Long, SIGMOD 2024): one bit per dimension of the
// randomly rotated, normalised residual, and two scalars per vector
// (docs/methods.md §6.7).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "common/blas_threads.h"
#include "common/rng.h"
#include "compressors/internal/kmeans.h"
#include "vectors/internal/methods.h"

namespace ecps::vectors::internal {
namespace {

// A random orthogonal d x d matrix: modified Gram-Schmidt (in double) of
// N(0, 1) rows drawn by `seed`; row-major, its rows orthonormal.
std::vector<float> RandomRotation(int d, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> q(static_cast<size_t>(d) * d);
  for (double& v : q) v = rng.Normal();
  for (int i = 0; i < d; ++i) {
    double* qi = q.data() + static_cast<size_t>(i) * d;
    for (int pass = 0; pass < 2; ++pass)  // twice: orthogonal to working precision
      for (int k = 0; k < i; ++k) {
        const double* qk = q.data() + static_cast<size_t>(k) * d;
        double dot = 0;
        for (int j = 0; j < d; ++j) dot += qi[j] * qk[j];
        for (int j = 0; j < d; ++j) qi[j] -= dot * qk[j];
      }
    double norm = 0;
    for (int j = 0; j < d; ++j) norm += qi[j] * qi[j];
    norm = std::sqrt(norm);
    for (int j = 0; j < d; ++j) qi[j] /= norm;
  }
  return std::vector<float>(q.begin(), q.end());
}

class RaBitQCodec final : public VectorCodec {
 public:
  // p: [d x d] with orthonormal rows (code space y = p·o); centroids
  // [k x d]; assign: n cluster ids (empty when k = 1); bits: n rows of
  // ⌈d/8⌉ bytes; scale: n factors (‖r‖·⟨ō, o⟩, or ‖r‖/⟨ō, o⟩ unbiased).
  RaBitQCodec(uint64_t n, int dim, bool unbiased, std::vector<float> p,
              std::vector<float> centroids, std::vector<uint32_t> assign, std::vector<uint8_t> bits,
              std::vector<float> scale)
      : VectorCodec(n, dim),
        unbiased_(unbiased),
        p_(std::move(p)),
        centroids_(std::move(centroids)),
        assign_(std::move(assign)),
        bits_(std::move(bits)),
        scale_(std::move(scale)) {}
  std::string_view method() const override { return "rabitq"; }
  uint64_t RowBytes() const { return (static_cast<uint64_t>(dim()) + 7) / 8; }
  void Decode(std::span<const uint64_t> ids, float* out) const override {
    // x̂ = c + scale · pᵀ·x̄ with x̄ = ±1/√d: the signs of a batch, then one
    // GEMM with the rotation, on this thread.
    const int d = dim();
    const float unit = 1.0f / std::sqrt(static_cast<float>(d));
    std::vector<float> signs(ids.size() * d);
    for (size_t k = 0; k < ids.size(); ++k) {
      const uint8_t* b = bits_.data() + ids[k] * RowBytes();
      const float s = scale_[ids[k]] * unit;
      for (int j = 0; j < d; ++j) signs[k * d + j] = (b[j >> 3] >> (j & 7)) & 1 ? s : -s;
    }
    {
      ScopedBlasThreads one(1);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(ids.size()), d, d,
                  1.0f, signs.data(), d, p_.data(), d, 0.0f, out, d);
    }
    for (size_t k = 0; k < ids.size(); ++k) {
      const float* c = centroids_.data() + (assign_.empty() ? 0 : assign_[ids[k]]) * d;
      for (int j = 0; j < d; ++j) out[k * d + j] += c[j];
    }
  }
  uint64_t MemoryBytes() const override {
    return bits_.size() + 4 * (scale_.size() + assign_.size() + p_.size() + centroids_.size());
  }
  std::string Params() const override {
    return "clusters=" + std::to_string(centroids_.size() / dim()) +
           (unbiased_ ? " scale=unbiased" : " scale=mse");
  }
  void Save(BlobWriter* w) const override {
    w->Pod<uint8_t>(unbiased_);
    w->Vec(p_);
    w->Vec(centroids_);
    w->Vec(assign_);
    w->Vec(bits_);
    w->Vec(scale_);
  }

 private:
  bool unbiased_;
  std::vector<float> p_, centroids_;
  std::vector<uint32_t> assign_;
  std::vector<uint8_t> bits_;
  std::vector<float> scale_;
};

}  // namespace

CodecOr CompressRaBitQ(const VectorSet& x, const CompressOptions& o) {
  RETURN_IF_ERROR(o.params.OnlyKnown("rabitq", {"clusters", "scale", "iters"}));
  ASSIGN_OR_RETURN(const int64_t k, o.params.Int("clusters", 1, 1, 1 << 20));
  ASSIGN_OR_RETURN(const int64_t iters, o.params.Int("iters", 10, 1, 1000));
  ASSIGN_OR_RETURN(const std::string scale, o.params.Choice("scale", {"mse", "unbiased"}));
  const int d = x.dim;
  // The centroids: the mean (k = 1, the paper's single-cluster case) or
  // k-means (the IVF setting, one centroid per list).
  std::vector<float> centroids(d, 0.0f);
  std::vector<uint32_t> assign;
  if (k == 1) {
    std::vector<double> mean(d, 0.0);
    for (uint64_t i = 0; i < x.n; ++i)
      for (int j = 0; j < d; ++j) mean[j] += x.row(i)[j];
    for (int j = 0; j < d; ++j) centroids[j] = static_cast<float>(mean[j] / x.n);
  } else {
    centroids =
        method_internal::KMeans(x.values, x.n, d, k, static_cast<int>(iters), o.seed, nullptr);
    const method_internal::NearestCentroids nearest(centroids.data(), k, d);
    assign.resize(x.n);
    for (uint64_t i = 0; i < x.n; ++i) assign[i] = nearest.Nearest(x.row(i));
  }
  const std::vector<float> p = RandomRotation(d, o.seed ^ 0x5261426974517ull);
  const uint64_t rb = (static_cast<uint64_t>(d) + 7) / 8;
  std::vector<uint8_t> bits(x.n * rb, 0);
  std::vector<float> factor(x.n);
  const double inv_sqrt_d = 1.0 / std::sqrt(static_cast<double>(d));
  // A chunk of residuals at a time, rotated by one single-threaded GEMM
  // (y = p·r per row; a per-row gemv on a team was 100x slower).
  constexpr uint64_t kChunk = 1024;
  std::vector<float> res(kChunk * d), y(kChunk * d);
  std::vector<double> norms(kChunk);
  ScopedBlasThreads one(1);
  for (uint64_t i0 = 0; i0 < x.n; i0 += kChunk) {
    const uint64_t nr = std::min(kChunk, x.n - i0);
    for (uint64_t t = 0; t < nr; ++t) {
      const uint64_t i = i0 + t;
      const float* c = centroids.data() + (assign.empty() ? 0 : assign[i]) * d;
      double norm = 0;
      for (int j = 0; j < d; ++j) {
        const float v = x.row(i)[j] - c[j];
        res[t * d + j] = v;
        norm += static_cast<double>(v) * v;
      }
      norms[t] = std::sqrt(norm);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nr), d, d, 1.0f,
                res.data(), d, p.data(), d, 0.0f, y.data(), d);
    for (uint64_t t = 0; t < nr; ++t) {
      const uint64_t i = i0 + t;
      // The signs of the rotated residual are the code; ⟨ō, o⟩ =
      // Σ|y_j| / (√d·‖r‖) is how well the code's direction matches it.
      double abs_sum = 0;
      for (int j = 0; j < d; ++j) {
        const float v = y[t * d + j];
        if (v > 0) bits[i * rb + (j >> 3)] |= static_cast<uint8_t>(1u << (j & 7));
        abs_sum += std::fabs(v);
      }
      const double norm = norms[t];
      const double dot = norm > 0 ? abs_sum * inv_sqrt_d / norm : 1.0;  // in (0, 1]
      // mse: ‖r‖·⟨ō, o⟩ (the projection of r on ō, least squared error);
      // unbiased: ‖r‖/⟨ō, o⟩ (the paper's inner-product estimator).
      factor[i] = static_cast<float>(scale == "mse" ? norm * dot : norm / dot);
    }
  }
  if (o.progress) o.progress(1.0);
  return std::unique_ptr<VectorCodec>(new RaBitQCodec(x.n, d, scale == "unbiased", p,
                                                      std::move(centroids), std::move(assign),
                                                      std::move(bits), std::move(factor)));
}

CodecOr LoadRaBitQ(BlobReader* r, uint64_t n, int dim) {
  uint8_t unbiased;
  std::vector<float> p, centroids, scale;
  std::vector<uint32_t> assign;
  std::vector<uint8_t> bits;
  if (!r->Pod(&unbiased) || !r->Vec(&p) || !r->Vec(&centroids) || !r->Vec(&assign) ||
      !r->Vec(&bits) || !r->Vec(&scale))
    return r->Truncated();
  const uint64_t k = centroids.size() / dim;
  if (unbiased > 1 || p.size() != static_cast<size_t>(dim) * dim || k == 0 ||
      centroids.size() != k * dim || (k == 1 ? !assign.empty() : assign.size() != n) ||
      bits.size() != n * ((dim + 7) / 8) || scale.size() != n)
    return DataLoss("RaBitQ arrays do not fit ", n, " x ", dim);
  for (uint32_t a : assign)
    if (a >= k) return DataLoss("cluster ", a, " of ", k);
  return std::unique_ptr<VectorCodec>(new RaBitQCodec(n, dim, unbiased, std::move(p),
                                                      std::move(centroids), std::move(assign),
                                                      std::move(bits), std::move(scale)));
}

}  // namespace ecps::vectors::internal
