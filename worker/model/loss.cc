#include "worker/model/loss.h"

#include <algorithm>
#include <cmath>

namespace ecps {

double BceWithLogits(std::span<const float> logits, std::span<const float> labels, float* dlogits) {
  const size_t n = logits.size();
  if (n == 0) return 0.0;
  // loss = max(z, 0) - z y + log(1 + exp(-|z|)): no overflow for large |z|.
  // The sum is in double so the mean does not depend on float rounding at
  // large n; one exp per element serves the loss and the gradient.
  double sum = 0;
  const float inv_n = 1.0f / static_cast<float>(n);
  for (size_t i = 0; i < n; ++i) {
    const float z = logits[i];
    const float y = labels[i];
    // sigmoid without overflow for large |z|.
    const float e = std::exp(-std::fabs(z));
    const float p = z >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
    dlogits[i] = (p - y) * inv_n;
    sum += std::max(z, 0.0f) - z * y + std::log1p(e);
  }
  return sum / static_cast<double>(n);
}

}  // namespace ecps
