#include "tests/compressors/reference/ham_reference.h"

#include <cmath>

namespace ecps::reference {

std::vector<float> HardMasked(const std::vector<float>& e, const std::vector<float>& a,
                              double tau) {
  std::vector<float> out(e.size());
  for (size_t i = 0; i < e.size(); ++i)
    out[i] = std::fabs(static_cast<double>(a[i])) >= tau ? e[i] : 0.0f;
  return out;
}

double SoftOrthogonality(const FeatureSpace& s, const std::vector<float>& rows, double weight) {
  const int nf = s.num_fields();
  const int d = s.dim;
  const int n = static_cast<int>(rows.size() / d);
  double total = 0;
  for (int f = 0; f < nf; ++f) {
    int c = 0;
    for (int i = f; i < n; i += nf) ++c;
    if (c == 0) continue;
    const double scale = static_cast<double>(s.cardinalities[f]) / c;
    for (int p = 0; p < d; ++p)
      for (int q = 0; q < d; ++q) {
        double g = 0;
        for (int i = f; i < n; i += nf) g += static_cast<double>(rows[i * d + p]) * rows[i * d + q];
        const double x = scale * g - (p == q ? 1.0 : 0.0);
        total += x * x;
      }
  }
  return weight * total;
}

}  // namespace ecps::reference
