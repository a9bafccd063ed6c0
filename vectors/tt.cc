// TT: a tensor-train decomposition of the matrix by TT-SVD
// (docs/methods.md §6.6).
#include <cblas.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "common/blas_threads.h"
#include "vectors/internal/methods.h"

namespace ecps::vectors::internal {
namespace {

// §2.7's factorisation of a size into three: N_a = ⌈s^(1/3)⌉,
// N_b = ⌈√(s/N_a)⌉, N_c = ⌈s/(N_a·N_b)⌉, returned as (N_c, N_b, N_a).
std::array<uint64_t, 3> Factor3(uint64_t s) {
  // In integers: the smallest a with a³ >= s, b with a·b² >= s.
  uint64_t a = std::max<uint64_t>(1, static_cast<uint64_t>(std::cbrt(static_cast<double>(s))) - 1);
  while (a * a * a < s) ++a;
  uint64_t b =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::sqrt(static_cast<double>(s) / a)) - 1);
  while (a * b * b < s) ++b;
  const uint64_t c = (s + a * b - 1) / (a * b);
  return {c, b, a};
}

class TtCodec final : public VectorCodec {
 public:
  // Shapes: rows (N0, N1, N2), columns (C0, C1, C2); ranks r1, r2.
  // g0 [N0·C0 x r1], g1 [r1·N1·C1 x r2], g2 [r2 x N2·C2].
  TtCodec(uint64_t n, int dim, std::array<uint64_t, 3> nn, std::array<uint64_t, 3> cc, int r1,
          int r2, std::vector<float> g0, std::vector<float> g1, std::vector<float> g2)
      : VectorCodec(n, dim),
        n_(nn),
        c_(cc),
        r1_(r1),
        r2_(r2),
        g0_(std::move(g0)),
        g1_(std::move(g1)),
        g2_(std::move(g2)) {}
  std::string_view method() const override { return "tt"; }
  void Decode(std::span<const uint64_t> ids, float* out) const override {
    // Two GEMMs per row, on this thread. For row (i0, i1, i2):
    //   W [C0 x C1·r2] = G0[i0·C0 .., :] [C0 x r1] · G1's (i1, ·) block
    //     [r1 x C1·r2] (row r at (r·N1C1 + i1·C1)·r2, leading dim N1C1·r2);
    //   X̂ [C0·C1 x C2] = W seen as [C0·C1 x r2] · G2[:, i2·C2 ..] [r2 x C2]
    //     (leading dim N2C2).
    const int c0 = static_cast<int>(c_[0]), c1 = static_cast<int>(c_[1]);
    const int c2 = static_cast<int>(c_[2]);
    const int n1c1 = static_cast<int>(n_[1] * c_[1]), n2c2 = static_cast<int>(n_[2] * c_[2]);
    std::vector<float> w(static_cast<size_t>(c0) * c1 * r2_), full(c_[0] * c_[1] * c_[2]);
    ScopedBlasThreads one(1);
    for (size_t k = 0; k < ids.size(); ++k) {
      const uint64_t i = ids[k];
      const uint64_t i2 = i % n_[2], i1 = (i / n_[2]) % n_[1], i0 = i / (n_[1] * n_[2]);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c0, c1 * r2_, r1_, 1.0f,
                  g0_.data() + i0 * c_[0] * r1_, r1_, g1_.data() + i1 * c_[1] * r2_, n1c1 * r2_,
                  0.0f, w.data(), c1 * r2_);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c0 * c1, c2, r2_, 1.0f, w.data(), r2_,
                  g2_.data() + i2 * c_[2], n2c2, 0.0f, full.data(), c2);
      std::memcpy(out + k * dim(), full.data(), dim() * sizeof(float));  // padding dropped
    }
  }
  uint64_t MemoryBytes() const override { return 4 * (g0_.size() + g1_.size() + g2_.size()); }
  std::string Params() const override {
    return "rows=" + std::to_string(n_[0]) + "x" + std::to_string(n_[1]) + "x" +
           std::to_string(n_[2]) + " cols=" + std::to_string(c_[0]) + "x" + std::to_string(c_[1]) +
           "x" + std::to_string(c_[2]) + " ranks=" + std::to_string(r1_) + "," +
           std::to_string(r2_);
  }
  void Save(BlobWriter* w) const override {
    for (uint64_t v : n_) w->Pod(v);
    for (uint64_t v : c_) w->Pod(v);
    w->Pod<int32_t>(r1_);
    w->Pod<int32_t>(r2_);
    w->Vec(g0_);
    w->Vec(g1_);
    w->Vec(g2_);
  }

 private:
  std::array<uint64_t, 3> n_, c_;
  int r1_, r2_;
  std::vector<float> g0_, g1_, g2_;
};

}  // namespace

CodecOr CompressTt(const VectorSet& x, const CompressOptions& o) {
  RETURN_IF_ERROR(o.params.OnlyKnown("tt", {"rank"}));
  const std::array<uint64_t, 3> nn = Factor3(x.n), cc = Factor3(x.dim);
  const uint64_t a0 = nn[0] * cc[0], a1 = nn[1] * cc[1], a2 = nn[2] * cc[2];
  // (N0C0 + N2C2)·R + N1C1·R² = n·d·CR words: the positive root, floored.
  const double words = o.budget * x.n * x.dim;
  const double b = static_cast<double>(a0 + a2), a = static_cast<double>(a1);
  const double root = (-b + std::sqrt(b * b + 4 * a * words)) / (2 * a);
  ASSIGN_OR_RETURN(
      const int64_t rank,
      o.params.Int("rank", std::max<int64_t>(1, static_cast<int64_t>(root)), 1, int64_t{1} << 20));
  // The padded tensor, permuted to (N0, C0, N1, C1, N2, C2) and seen as the
  // [N0·C0 x N1·C1·N2·C2] matrix of the first SVD.
  std::vector<float> t(a0 * a1 * a2, 0.0f);
  for (uint64_t i = 0; i < x.n; ++i) {
    const uint64_t i2 = i % nn[2], i1 = (i / nn[2]) % nn[1], i0 = i / (nn[1] * nn[2]);
    for (int j = 0; j < x.dim; ++j) {
      const uint64_t c2 = j % cc[2], c1 = (j / cc[2]) % cc[1], c0 = j / (cc[1] * cc[2]);
      t[(i0 * cc[0] + c0) * a1 * a2 + ((i1 * cc[1] + c1) * nn[2] + i2) * cc[2] + c2] = x.row(i)[j];
    }
  }
  const int r1 = static_cast<int>(std::min<uint64_t>(rank, std::min(a0, a1 * a2)));
  ASSIGN_OR_RETURN(LowRank f0, FactorMatrix(t.data(), a0, a1 * a2, r1));
  if (o.progress) o.progress(0.5);
  // The first factor's right part [r1 x N1C1·N2C2] is, in memory, the
  // [r1·N1C1 x N2C2] matrix of the second SVD.
  const int r2 = static_cast<int>(std::min<uint64_t>(rank, std::min<uint64_t>(r1 * a1, a2)));
  ASSIGN_OR_RETURN(LowRank f1, FactorMatrix(f0.vt.data(), r1 * a1, a2, r2));
  if (o.progress) o.progress(1.0);
  return std::unique_ptr<VectorCodec>(new TtCodec(x.n, x.dim, nn, cc, r1, r2, std::move(f0.us),
                                                  std::move(f1.us), std::move(f1.vt)));
}

CodecOr LoadTt(BlobReader* r, uint64_t n, int dim) {
  std::array<uint64_t, 3> nn, cc;
  int32_t r1, r2;
  std::vector<float> g0, g1, g2;
  for (uint64_t& v : nn)
    if (!r->Pod(&v)) return r->Truncated();
  for (uint64_t& v : cc)
    if (!r->Pod(&v)) return r->Truncated();
  if (!r->Pod(&r1) || !r->Pod(&r2) || !r->Vec(&g0) || !r->Vec(&g1) || !r->Vec(&g2))
    return r->Truncated();
  if (nn != Factor3(n) || cc != Factor3(dim) || r1 < 1 || r2 < 1 ||
      g0.size() != nn[0] * cc[0] * r1 || g1.size() != r1 * nn[1] * cc[1] * r2 ||
      g2.size() != r2 * nn[2] * cc[2])
    return DataLoss("TT cores of ", g0.size(), " / ", g1.size(), " / ", g2.size(),
                    " floats do not fit ", n, " x ", dim, " at ranks ", r1, ", ", r2);
  return std::unique_ptr<VectorCodec>(
      new TtCodec(n, dim, nn, cc, r1, r2, std::move(g0), std::move(g1), std::move(g2)));
}

}  // namespace ecps::vectors::internal
