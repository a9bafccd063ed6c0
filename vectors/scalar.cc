// INT8 / INT16: stochastic scalar quantisation with one global scale, or
// one per dimension (docs/methods.md §6.1).
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
  // scale/middle: one value (global) or one per dimension.
  ScalarCodec(uint64_t n, int dim, std::vector<float> scale, std::vector<float> middle,
              std::vector<Q> codes)
      : VectorCodec(n, dim),
        scale_(std::move(scale)),
        middle_(std::move(middle)),
        codes_(std::move(codes)) {}
  std::string_view method() const override { return kBits == 8 ? "int8" : "int16"; }
  void Decode(std::span<const uint64_t> ids, float* out) const override {
    const size_t d = dim();
    if (scale_.size() == 1) {
      const float s = scale_[0], m = middle_[0];
      for (size_t k = 0; k < ids.size(); ++k) {
        const Q* q = codes_.data() + ids[k] * d;
        float* o = out + k * d;
        for (size_t j = 0; j < d; ++j) o[j] = static_cast<float>(q[j]) * s + m;
      }
      return;
    }
    const float* s = scale_.data();
    const float* m = middle_.data();
    for (size_t k = 0; k < ids.size(); ++k) {
      const Q* q = codes_.data() + ids[k] * d;
      float* o = out + k * d;
      for (size_t j = 0; j < d; ++j) o[j] = static_cast<float>(q[j]) * s[j] + m[j];
    }
  }
  // The codes and the scale and middle floats (2, or 2·d per dimension).
  uint64_t MemoryBytes() const override {
    return codes_.size() * sizeof(Q) + 4 * (scale_.size() + middle_.size());
  }
  std::string Params() const override {
    if (scale_.size() > 1) return "range=per_dim";
    return "scale=" + std::to_string(scale_[0]) + " middle=" + std::to_string(middle_[0]);
  }
  void Save(BlobWriter* w) const override {
    w->Pod<int32_t>(kBits);
    w->Vec(scale_);
    w->Vec(middle_);
    w->Bytes(codes_.data(), codes_.size() * sizeof(Q));
  }

 private:
  std::vector<float> scale_, middle_;
  std::vector<Q> codes_;
};

template <typename Q>
CodecOr CompressScalar(const VectorSet& x, const CompressOptions& o, const char* name) {
  RETURN_IF_ERROR(o.params.OnlyKnown(name, {"scale", "middle", "range", "rounding"}));
  constexpr int kBits = 8 * sizeof(Q);
  ASSIGN_OR_RETURN(const std::string range, o.params.Choice("range", {"global", "per_dim"}));
  ASSIGN_OR_RETURN(const std::string rounding,
                   o.params.Choice("rounding", {"stochastic", "nearest"}));
  ASSIGN_OR_RETURN(double scale, o.params.Double("scale", 0));
  if (scale < 0) return InvalidArgument("--param scale=", scale, ": must be >= 0 (0: auto)");
  const int d = x.dim;
  const int ranges = range == "per_dim" ? d : 1;
  if (ranges > 1 && (o.params.values().count("scale") || o.params.values().count("middle")))
    return InvalidArgument("--param range=per_dim takes its scales from the data: no scale/middle");
  // Auto (scale=0, the default): the data's range spread over the 2^b codes,
  // centred; the paper's fixed s = 0.01, middle = 0 clip most of a matrix
  // whose values are not within ±1.28 (sift5k's are 0..191).
  std::vector<double> lo(ranges, INFINITY), hi(ranges, -INFINITY);
  for (uint64_t i = 0; i < x.n; ++i)
    for (int j = 0; j < d; ++j) {
      const int r = ranges > 1 ? j : 0;
      lo[r] = std::min<double>(lo[r], x.row(i)[j]);
      hi[r] = std::max<double>(hi[r], x.row(i)[j]);
    }
  std::vector<float> s(ranges), m(ranges);
  for (int r = 0; r < ranges; ++r) {
    ASSIGN_OR_RETURN(const double mid,
                     o.params.Double("middle", scale == 0 ? (lo[r] + hi[r]) / 2 : 0));
    const double sc = scale > 0       ? scale
                      : hi[r] > lo[r] ? (hi[r] - lo[r]) / (std::ldexp(1.0, kBits) - 1)
                                      : 1.0;
    s[r] = static_cast<float>(sc);
    m[r] = static_cast<float>(mid);
  }
  const float qmin = -std::ldexp(1.0f, kBits - 1), qmax = std::ldexp(1.0f, kBits - 1) - 1;
  std::vector<Q> codes(x.values.size());
  Rng rng(o.seed);
  const bool stochastic = rounding == "stochastic";
  for (uint64_t i = 0; i < x.n; ++i)
    for (int j = 0; j < d; ++j) {
      const int r = ranges > 1 ? j : 0;
      const float v = (x.row(i)[j] - m[r]) / s[r];
      // Stochastic: ⌊v + u⌋ is unbiased; nearest: ⌊v + 1/2⌋ (faiss SQ8's).
      const float q = std::floor(v + (stochastic ? rng.UniformFloat() : 0.5f));
      codes[i * d + j] = static_cast<Q>(std::clamp(q, qmin, qmax));
    }
  return std::unique_ptr<VectorCodec>(
      new ScalarCodec<Q>(x.n, d, std::move(s), std::move(m), std::move(codes)));
}

template <typename Q>
CodecOr LoadAs(BlobReader* r, uint64_t n, int dim) {
  std::vector<float> scale, middle;
  std::vector<Q> codes(n * dim);
  if (!r->Vec(&scale) || !r->Vec(&middle) || !r->Bytes(codes.data(), codes.size() * sizeof(Q)))
    return r->Truncated();
  if ((scale.size() != 1 && scale.size() != static_cast<size_t>(dim)) ||
      middle.size() != scale.size())
    return DataLoss(scale.size(), " scales and ", middle.size(), " middles at dimension ", dim);
  for (size_t i = 0; i < scale.size(); ++i)
    if (!std::isfinite(scale[i]) || !std::isfinite(middle[i]) || scale[i] <= 0)
      return DataLoss("scale ", scale[i], " / middle ", middle[i], " invalid");
  return std::unique_ptr<VectorCodec>(
      new ScalarCodec<Q>(n, dim, std::move(scale), std::move(middle), std::move(codes)));
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
