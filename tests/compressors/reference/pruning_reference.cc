#include "tests/compressors/reference/pruning_reference.h"

#include <algorithm>
#include <cmath>

namespace ecps::reference {

std::vector<float> MaskedDense(const std::vector<float>& values, const std::vector<uint8_t>& keep) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = keep[i] != 0 ? values[i] : 0.0f;
  return out;
}

uint64_t CountBelow(const std::vector<float>& values, double tau) {
  uint64_t c = 0;
  for (float v : values) c += std::fabs(static_cast<double>(v)) < tau ? 1 : 0;
  return c;
}

double BisectThreshold(const std::vector<float>& values, double s) {
  const double n = static_cast<double>(values.size());
  const double tol = std::min(1e-4, 1e-3 * (1 - s));
  double lo = 0, hi = 100, tau = 50;
  for (int i = 0; i < 100; ++i) {
    tau = (lo + hi) / 2;
    const double frac = static_cast<double>(CountBelow(values, tau)) / n;
    if (std::fabs(frac - s) < tol) break;
    if (frac < s)
      lo = tau;
    else
      hi = tau;
  }
  return tau;
}

}  // namespace ecps::reference
