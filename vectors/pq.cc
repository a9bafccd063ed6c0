// PQ: product quantisation with k-means codebooks per subspace
// (docs/methods.md §6.2).
#include <memory>

#include "vectors/internal/methods.h"
#include "vectors/internal/pq_core.h"

namespace ecps::vectors::internal {
namespace {

class PqCodec final : public VectorCodec {
 public:
  explicit PqCodec(PqCore pq) : VectorCodec(pq.n, pq.dim), pq_(std::move(pq)) {}
  std::string_view method() const override { return "pq"; }
  void Decode(std::span<const uint64_t> ids, float* out) const override {
    pq_.DecodeRows(ids, out);
  }
  uint64_t MemoryBytes() const override { return pq_.MemoryBytes(); }
  std::string Params() const override {
    return "m=" + std::to_string(pq_.m) + " bits=" + std::to_string(pq_.bits);
  }
  void Save(BlobWriter* w) const override { pq_.Save(w); }

 private:
  PqCore pq_;
};

}  // namespace

CodecOr CompressPq(const VectorSet& x, const CompressOptions& o) {
  RETURN_IF_ERROR(o.params.OnlyKnown("pq", {"m", "bits", "iters", "sample"}));
  ASSIGN_OR_RETURN(const int64_t bits, o.params.Int("bits", 8, 1, 16));
  ASSIGN_OR_RETURN(const int64_t iters, o.params.Int("iters", 25, 1, 1000));
  ASSIGN_OR_RETURN(const int64_t sample,
                   o.params.Int("sample", int64_t{256} << bits, 1, int64_t{1} << 40));
  ASSIGN_OR_RETURN(int64_t m, o.params.Int("m", 0, 0, x.dim));
  if (m > 0 && x.dim % m != 0)
    return InvalidArgument("--param m=", m, ": must divide the dimension ", x.dim);
  if (m == 0) {
    // The largest m dividing d whose codes and codebooks fit; m = 1 if none
    // does (the budget is then unreachable: the real ratio is reported).
    const double cap = o.budget * 4.0 * x.n * x.dim;
    m = 1;
    for (int c = x.dim; c >= 1; --c)
      if (x.dim % c == 0 && PqBytes(x.n, x.dim, c, static_cast<int>(bits)) <= cap) {
        m = c;
        break;
      }
  }
  std::unique_ptr<ForkJoinPool> pool;
  if (o.threads > 1) pool = std::make_unique<ForkJoinPool>(o.threads);
  return std::unique_ptr<VectorCodec>(
      new PqCodec(TrainPq(x, static_cast<int>(m), static_cast<int>(bits), sample,
                          static_cast<int>(iters), o.seed, pool.get(), o.progress)));
}

CodecOr LoadPq(BlobReader* r, uint64_t n, int dim) {
  PqCore pq;
  RETURN_IF_ERROR(pq.Load(r, dim));
  if (pq.n != n) return DataLoss("PQ of ", pq.n, " rows in a file of ", n);
  return std::unique_ptr<VectorCodec>(new PqCodec(std::move(pq)));
}

}  // namespace ecps::vectors::internal
