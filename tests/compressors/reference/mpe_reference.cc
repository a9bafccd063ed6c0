#include "tests/compressors/reference/mpe_reference.h"

#include <cmath>

namespace ecps::mpe_ref {
namespace {

// Nearest, ties to even, of x/step, times step.
double RoundTo(double x, double step) {
  const double q = x / step;
  const double f = std::floor(q);
  double r = q - f > 0.5 ? f + 1 : (q - f < 0.5 ? f : (std::fmod(f, 2.0) == 0 ? f : f + 1));
  return r * step;
}

}  // namespace

std::vector<double> Quant(int k, std::span<const float> v) {
  const size_t d = v.size();
  std::vector<double> out(d, 0.0);
  if (k == 0) return out;
  if (k == 4) {
    for (size_t j = 0; j < d; ++j) out[j] = v[j];
    return out;
  }
  if (k == 3) {
    for (size_t j = 0; j < d; ++j) {
      const double a = std::abs(double{v[j]});
      if (a == 0) continue;
      // 10 fraction bits at exponent e = floor(log2 a), at least -14.
      int e = static_cast<int>(std::floor(std::log2(a)));
      if (e < -14) e = -14;
      out[j] = std::copysign(RoundTo(a, std::ldexp(1.0, e - 10)), double{v[j]});
    }
    return out;
  }
  double lo = v[0], hi = v[0];
  for (float x : v) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const double step = (hi - lo) / (k == 1 ? 15 : 255);
  for (size_t j = 0; j < d; ++j) out[j] = step > 0 ? lo + RoundTo(v[j] - lo, step) : v[j];
  return out;
}

std::vector<double> SearchLookup(const MpeEmbedding& m, const FeatureSpace& s,
                                 const std::vector<float>& rows, std::span<const double> alpha,
                                 double tau, std::span<const uint32_t> keys) {
  const int nf = s.num_fields(), d = s.dim, nk = MpeEmbedding::kClasses;
  std::vector<double> out(keys.size() * d, 0.0);
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t x = s.offsets[i % nf] + keys[i];
    const int g = m.group(x);
    double z = 0;
    for (int k = 0; k < nk; ++k) z += std::exp(alpha[g * nk + k] / tau);
    const std::span<const float> v(rows.data() + x * d, d);
    for (int k = 1; k < nk; ++k) {
      const double w = std::exp(alpha[g * nk + k] / tau) / z;
      const std::vector<double> q = Quant(k, v);
      for (int j = 0; j < d; ++j) out[i * d + j] += w * q[j];
    }
  }
  return out;
}

int Class(const MpeEmbedding& m, const std::vector<int>& classes, uint64_t x) {
  return classes[m.group(x)];
}

uint64_t Row(const MpeEmbedding& m, const std::vector<int>& classes, uint64_t x) {
  uint64_t row = 0;
  for (uint64_t y = 0; y < x; ++y)
    if (Class(m, classes, y) == Class(m, classes, x)) ++row;
  return row;
}

}  // namespace ecps::mpe_ref
