// Pruning: keep the largest-magnitude values of the whole matrix, stored as
// CSR or COO (docs/methods.md §6.5).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "vectors/internal/methods.h"

namespace ecps::vectors::internal {
namespace {

enum class SparseFormat : uint8_t { kCsr = 0, kCoo = 1 };

class PruningCodec final : public VectorCodec {
 public:
  PruningCodec(uint64_t n, int dim, SparseFormat f, std::vector<uint32_t> rows,
               std::vector<uint32_t> cols, std::vector<float> vals)
      : VectorCodec(n, dim),
        format_(f),
        rows_(std::move(rows)),
        cols_(std::move(cols)),
        vals_(std::move(vals)) {}
  std::string_view method() const override { return "pruning"; }
  void Decode(std::span<const uint64_t> ids, float* out) const override {
    const size_t d = dim();
    for (size_t k = 0; k < ids.size(); ++k) {
      float* o = out + k * d;
      std::fill(o, o + d, 0.0f);
      uint64_t b, e;
      if (format_ == SparseFormat::kCsr) {
        b = rows_[ids[k]];
        e = rows_[ids[k] + 1];
      } else {
        // COO keeps no row pointers: the row's run is found by binary search.
        const uint32_t id = static_cast<uint32_t>(ids[k]);
        b = std::lower_bound(rows_.begin(), rows_.end(), id) - rows_.begin();
        e = std::upper_bound(rows_.begin() + b, rows_.end(), id) - rows_.begin();
      }
      for (uint64_t p = b; p < e; ++p) o[cols_[p]] = vals_[p];
    }
  }
  uint64_t MemoryBytes() const override { return (rows_.size() + cols_.size() + vals_.size()) * 4; }
  std::string Params() const override {
    return std::string("format=") + (format_ == SparseFormat::kCsr ? "csr" : "coo") +
           " nnz=" + std::to_string(vals_.size());
  }
  void Save(BlobWriter* w) const override {
    w->Pod(static_cast<uint8_t>(format_));
    w->Vec(rows_);
    w->Vec(cols_);
    w->Vec(vals_);
  }

 private:
  SparseFormat format_;
  std::vector<uint32_t> rows_;  // CSR: n + 1 row pointers; COO: the row of each value
  std::vector<uint32_t> cols_;
  std::vector<float> vals_;
};

}  // namespace

CodecOr CompressPruning(const VectorSet& x, const CompressOptions& o) {
  RETURN_IF_ERROR(o.params.OnlyKnown("pruning", {}));
  const uint64_t total = x.n * x.dim;
  const double bytes = o.budget * 4.0 * total;
  // §1.8 at the vectors' dimension: CSR when a row's share, CR·d words, is
  // at least 3 (then (n + 1) row pointers and 8 B per value), COO otherwise
  // (12 B per value). The count is solved from the bytes, so it never
  // exceeds the budget.
  const bool csr = o.budget * x.dim >= 3;
  const double fixed = csr ? 4.0 * (x.n + 1) : 0.0;
  const uint64_t keep = static_cast<uint64_t>(std::clamp(
      std::floor((bytes - fixed) / (csr ? 8.0 : 12.0)), 0.0, static_cast<double>(total)));
  if (keep >= (uint64_t{1} << 32))
    return InvalidArgument("pruning keeps ", keep, " values: CSR offsets are 32-bit (< 2^32)");
  // The keep-th largest magnitude; values above it are kept, and of those
  // equal to it the first in row-major order until `keep` (integer data such
  // as SIFT has many ties).
  float tau = 0;
  if (keep > 0 && keep < total) {
    std::vector<float> mag(total);
    for (uint64_t i = 0; i < total; ++i) mag[i] = std::fabs(x.values[i]);
    std::nth_element(mag.begin(), mag.begin() + (keep - 1), mag.end(), std::greater<float>());
    tau = mag[keep - 1];
  }
  uint64_t above = 0;
  if (keep > 0 && keep < total)
    for (float v : x.values) above += std::fabs(v) > tau;
  uint64_t ties = keep < total ? keep - above : 0;
  std::vector<uint32_t> rows, cols;
  std::vector<float> vals;
  vals.reserve(keep);
  cols.reserve(keep);
  if (csr) rows.reserve(x.n + 1);
  for (uint64_t i = 0; i < x.n; ++i) {
    if (csr) rows.push_back(static_cast<uint32_t>(vals.size()));
    for (int j = 0; j < x.dim; ++j) {
      const float v = x.row(i)[j];
      const float a = std::fabs(v);
      bool take = keep >= total;
      if (!take && keep > 0) {
        if (a > tau) {
          take = true;
        } else if (a == tau && ties > 0) {
          take = true;
          --ties;
        }
      }
      if (!take) continue;
      if (!csr) rows.push_back(static_cast<uint32_t>(i));
      cols.push_back(static_cast<uint32_t>(j));
      vals.push_back(v);
    }
  }
  if (csr) rows.push_back(static_cast<uint32_t>(vals.size()));
  if (o.progress) o.progress(1.0);
  return std::unique_ptr<VectorCodec>(
      new PruningCodec(x.n, x.dim, csr ? SparseFormat::kCsr : SparseFormat::kCoo, std::move(rows),
                       std::move(cols), std::move(vals)));
}

CodecOr LoadPruning(BlobReader* r, uint64_t n, int dim) {
  uint8_t f;
  std::vector<uint32_t> rows, cols;
  std::vector<float> vals;
  if (!r->Pod(&f) || !r->Vec(&rows) || !r->Vec(&cols) || !r->Vec(&vals)) return r->Truncated();
  if (f > 1) return DataLoss("sparse format ", int{f}, " (0 CSR, 1 COO)");
  const SparseFormat format = static_cast<SparseFormat>(f);
  if (cols.size() != vals.size()) return DataLoss(cols.size(), " columns for ", vals.size());
  for (uint32_t c : cols)
    if (c >= static_cast<uint32_t>(dim)) return DataLoss("column ", c, " at dimension ", dim);
  // Every index is checked here, so Decode can trust them.
  if (format == SparseFormat::kCsr) {
    if (rows.size() != n + 1 || rows[0] != 0 || rows[n] != vals.size())
      return DataLoss("CSR of ", rows.size(), " row pointers for ", n, " rows");
    for (uint64_t i = 0; i < n; ++i)
      if (rows[i] > rows[i + 1]) return DataLoss("CSR row pointers decrease at row ", i);
  } else {
    if (rows.size() != vals.size()) return DataLoss(rows.size(), " rows for ", vals.size());
    for (uint64_t p = 0; p < rows.size(); ++p)
      if (rows[p] >= n || (p > 0 && rows[p] < rows[p - 1]))
        return DataLoss("COO rows unsorted or out of range at value ", p);
  }
  return std::unique_ptr<VectorCodec>(
      new PruningCodec(n, dim, format, std::move(rows), std::move(cols), std::move(vals)));
}

}  // namespace ecps::vectors::internal
