#include "worker/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "common/check.h"

namespace ecps {
double BceWithLogits(std::span<const float> logits, std::span<const float> labels, float* dlogits) {
  const size_t n = logits.size();
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
