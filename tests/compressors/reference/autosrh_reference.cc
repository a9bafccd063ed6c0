#include "tests/compressors/reference/autosrh_reference.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace ecps::reference {

std::vector<int> AutoSrhGroups(const std::vector<uint32_t>& counts, int groups) {
  const size_t n = counts.size();
  std::vector<std::pair<uint32_t, size_t>> by_count;
  for (size_t i = 0; i < n; ++i) by_count.push_back({counts[i], i});
  std::sort(by_count.begin(), by_count.end());
  std::vector<int> group(n, 0);
  size_t taken = 0;
  for (int g = 0; g < groups; ++g) {
    if (taken == n) break;
    size_t size = n - taken;
    if (g < groups - 1) {
      size = std::max<size_t>(1, (n - taken) / static_cast<size_t>(groups - g));
      while (taken + size < n && by_count[taken + size].first == by_count[taken + size - 1].first)
        ++size;
    }
    for (size_t k = taken; k < taken + size; ++k) group[by_count[k].second] = g;
    taken += size;
  }
  return group;
}

std::vector<float> AutoSrhScaled(const std::vector<float>& rows, const std::vector<int>& group,
                                 const std::vector<float>& alpha, int dim) {
  std::vector<float> out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const size_t row = i / dim, c = i % dim;
    out[i] = rows[i] * alpha[group[row] * dim + c];
  }
  return out;
}

std::vector<float> AutoSrhAlphaStep(const std::vector<float>& alpha,
                                    const std::vector<double>& grad,
                                    const std::vector<uint64_t>& group_sizes, double l1, double lr,
                                    int dim) {
  std::vector<float> out = alpha;
  for (size_t g = 0; g < group_sizes.size(); ++g) {
    if (group_sizes[g] == 0) continue;
    std::vector<double> full(dim);
    double sum = 0;
    for (int c = 0; c < dim; ++c) {
      full[c] = grad[g * dim + c] + (alpha[g * dim + c] > 0 ? l1 : 0.0);
      sum += std::fabs(full[c]);
    }
    const double mean = sum / dim;
    for (int c = 0; c < dim; ++c) {
      const double a = alpha[g * dim + c] - lr * full[c] / (mean + 1e-8);
      out[g * dim + c] = static_cast<float>(std::min(1.0, std::max(0.0, a)));
    }
  }
  return out;
}

}  // namespace ecps::reference
