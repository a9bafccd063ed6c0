#include "tests/compressors/reference/mde_reference.h"

#include <cmath>

namespace ecps::mde_ref {
namespace {

// Round to the nearest integer, an exact half to the even neighbour.
double HalfEven(double v) {
  const double f = std::floor(v);
  const double diff = v - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return std::fmod(f, 2.0) == 0 ? f : f + 1;
}

}  // namespace

std::vector<int> Dims(const FeatureSpace& s, double alpha, bool round_dim) {
  uint64_t n_min = 0;
  for (uint64_t n : s.cardinalities)
    if (n > 0 && (n_min == 0 || n < n_min)) n_min = n;
  std::vector<int> dims;
  for (uint64_t n : s.cardinalities) {
    if (n == 0) {
      dims.push_back(s.dim);
      continue;
    }
    const double lambda = s.dim * std::pow(static_cast<double>(n_min), alpha);
    double v = HalfEven(lambda * std::pow(static_cast<double>(n), -alpha));
    if (v < 1) v = 1;
    if (round_dim) {
      const double e = HalfEven(std::log2(v));
      double p = 1;
      for (int i = 0; i < e; ++i) p *= 2;
      v = p;
    }
    dims.push_back(v > s.dim ? s.dim : static_cast<int>(v));
  }
  return dims;
}

std::vector<double> Lookup(const MdeEmbedding& m, const FeatureSpace& s,
                           const std::vector<std::vector<double>>& tables,
                           std::span<const double> projections, std::span<const uint32_t> keys) {
  const int nf = s.num_fields();
  const int d = s.dim;
  std::vector<double> out(keys.size() * d, 0.0);
  for (size_t i = 0; i < keys.size(); ++i) {
    const int f = static_cast<int>(i % nf);
    const int w = m.dim(f);
    const std::vector<double>& t = tables[m.table(f)];
    const size_t row = (m.table_offset(f) + keys[i]) * w;
    for (int c = 0; c < d; ++c) {
      if (w == d) {
        out[i * d + c] = t[row + c];
        continue;
      }
      double sum = 0;
      for (int a = 0; a < w; ++a)
        sum += t[row + a] * projections[m.projection_offset(f) + static_cast<size_t>(a) * d + c];
      out[i * d + c] = sum;
    }
  }
  return out;
}

}  // namespace ecps::mde_ref
