// INT8 / INT16: stochastic scalar quantisation with one global scale
// (docs/methods.md §6.1).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/rng.h"
#include "vectors/internal/methods.h"

namespace ecps::vectors::internal {
namespace {

template <typename Q>
class ScalarCodec final : public VectorCodec {
 public:
  static constexpr int kBits = 8 * sizeof(Q);
  ScalarCodec(uint64_t n, int dim, float scale, float middle, std::vector<Q> codes)
      : VectorCodec(n, dim), scale_(scale), middle_(middle), codes_(std::move(codes)) {}
  std::string_view method() const override { return kBits == 8 ? "int8" : "int16"; }
  void Decode(std::span<const uint64_t> ids, float* out) const override {
    const size_t d = dim();
    for (size_t k = 0; k < ids.size(); ++k) {
      const Q* q = codes_.data() + ids[k] * d;
      float* o = out + k * d;
      for (size_t j = 0; j < d; ++j) o[j] = static_cast<float>(q[j]) * scale_ + middle_;
    }
  }
  // The codes and the two float scalars.
  uint64_t MemoryBytes() const override { return codes_.size() * sizeof(Q) + 8; }
  std::string Params() const override {
    return "scale=" + std::to_string(scale_) + " middle=" + std::to_string(middle_);
  }
  void Save(BlobWriter* w) const override {
    w->Pod<int32_t>(kBits);
    w->Pod(scale_);
    w->Pod(middle_);
    w->Bytes(codes_.data(), codes_.size() * sizeof(Q));
  }
  const std::vector<Q>& codes() const { return codes_; }

 private:
  float scale_, middle_;
  std::vector<Q> codes_;
};

template <typename Q>
CodecOr CompressScalar(const VectorSet& x, const CompressOptions& o, const char* name) {
  RETURN_IF_ERROR(o.params.OnlyKnown(name, {"scale", "middle"}));
  constexpr int kBits = 8 * sizeof(Q);
  const auto [lo_it, hi_it] = std::minmax_element(x.values.begin(), x.values.end());
  const double lo = *lo_it, hi = *hi_it;
  // Auto (scale=0, the default): the data's range spread over the 2^b codes,
  // centred; the paper's fixed s = 0.01, middle = 0 clip most of a matrix
  // whose values are not within ±1.28 (sift5k's are 0..191).
  ASSIGN_OR_RETURN(double scale, o.params.Double("scale", 0));
  if (scale < 0) return InvalidArgument("--param scale=", scale, ": must be >= 0 (0: auto)");
  ASSIGN_OR_RETURN(double middle, o.params.Double("middle", scale == 0 ? (lo + hi) / 2 : 0));
  if (scale == 0) scale = hi > lo ? (hi - lo) / (std::ldexp(1.0, kBits) - 1) : 1.0;
  const float s = static_cast<float>(scale), m = static_cast<float>(middle);
  const float qmin = -std::ldexp(1.0f, kBits - 1), qmax = std::ldexp(1.0f, kBits - 1) - 1;
  std::vector<Q> codes(x.values.size());
  Rng rng(o.seed);
  for (size_t i = 0; i < codes.size(); ++i) {
    const float q = std::floor((x.values[i] - m) / s + rng.UniformFloat());
    codes[i] = static_cast<Q>(std::clamp(q, qmin, qmax));
  }
  return std::unique_ptr<VectorCodec>(new ScalarCodec<Q>(x.n, x.dim, s, m, std::move(codes)));
}

template <typename Q>
CodecOr LoadAs(BlobReader* r, uint64_t n, int dim) {
  float scale, middle;
  std::vector<Q> codes(n * dim);
  if (!r->Pod(&scale) || !r->Pod(&middle) || !r->Bytes(codes.data(), codes.size() * sizeof(Q)))
    return r->Truncated();
  if (!std::isfinite(scale) || !std::isfinite(middle) || scale <= 0)
    return DataLoss("scale ", scale, " / middle ", middle, " invalid");
  return std::unique_ptr<VectorCodec>(new ScalarCodec<Q>(n, dim, scale, middle, std::move(codes)));
}

}  // namespace

CodecOr CompressInt8(const VectorSet& x, const CompressOptions& o) {
  return CompressScalar<int8_t>(x, o, "int8");
}
CodecOr CompressInt16(const VectorSet& x, const CompressOptions& o) {
  return CompressScalar<int16_t>(x, o, "int16");
}

CodecOr LoadScalar(BlobReader* r, uint64_t n, int dim) {
  int32_t bits;
  if (!r->Pod(&bits)) return r->Truncated();
  if (bits == 8) return LoadAs<int8_t>(r, n, dim);
  if (bits == 16) return LoadAs<int16_t>(r, n, dim);
  return DataLoss("scalar codes of ", bits, " bits (8 or 16 expected)");
}

}  // namespace ecps::vectors::internal
