#include "tests/compressors/reference/optembed_reference.h"

#include <cmath>

namespace ecps::optembed_ref {

std::vector<double> Supernet(const std::vector<double>& v, double t, int k) {
  double l1 = 0;
  for (double x : v) l1 += std::abs(x);
  std::vector<double> e(v.size(), 0.0);
  if (l1 - t <= 0) return e;
  for (int j = 0; j <= k; ++j) e[j] = v[j];
  return e;
}

}  // namespace ecps::optembed_ref
