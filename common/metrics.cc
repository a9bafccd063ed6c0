#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/check.h"

namespace ecps {
namespace {

inline double Softplus(double z) {
  return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
}

}  // namespace

double RocAuc(std::span<const float> scores, std::span<const float> labels) {
  ECPS_CHECK_EQ(scores.size(), labels.size());
  const size_t n = scores.size();
  std::vector<std::pair<float, bool>> v(n);
  uint64_t pos = 0;
  for (size_t i = 0; i < n; ++i) {
    float s = std::isfinite(scores[i]) ? scores[i] : 0.0f;
    bool y = labels[i] > 0.5f;
    v[i] = {s, y};
    pos += y;
  }
  const uint64_t neg = n - pos;
  if (pos == 0 || neg == 0) return 0.5;
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // Sum of the (average) ranks of the positives, ranks starting at 1.
  long double rank_sum = 0;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    uint64_t pos_in_group = 0;
    while (j < n && v[j].first == v[i].first) pos_in_group += v[j++].second;
    long double avg_rank = (static_cast<long double>(i + 1) + static_cast<long double>(j)) / 2;
    rank_sum += avg_rank * pos_in_group;
    i = j;
  }
  long double u = rank_sum - static_cast<long double>(pos) * (pos + 1) / 2;
  return static_cast<double>(u / (static_cast<long double>(pos) * neg));
}

double LogLossFromLogits(std::span<const float> logits, std::span<const float> labels) {
  ECPS_CHECK_EQ(logits.size(), labels.size());
  if (logits.empty()) return 0;
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    double z = std::isfinite(logits[i]) ? logits[i] : 0.0;
    sum += Softplus(z) - labels[i] * z;
  }
  return sum / logits.size();
}

}  // namespace ecps
