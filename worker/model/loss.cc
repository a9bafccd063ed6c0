#include "worker/model/loss.h"

#include <algorithm>
#include <cmath>

namespace ecps::model {

double BceWithLogits(int n, const float* logits, const float* labels, float* dlogits) {
  // loss = max(x, 0) - x y + log(1 + exp(-|x|)): no overflow for large |x|.
  // The sum is in double so the mean does not depend on batch order effects
  // of float rounding at large n.
  double sum = 0.0;
  const float inv_n = 1.0f / static_cast<float>(n);
  for (int i = 0; i < n; ++i) {
    const double x = logits[i];
    const double y = labels[i];
    sum += std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));
    if (dlogits != nullptr) {
      const double p = 1.0 / (1.0 + std::exp(-x));
      dlogits[i] = static_cast<float>(p - y) * inv_n;
    }
  }
  return n > 0 ? sum / n : 0.0;
}

}  // namespace ecps::model
