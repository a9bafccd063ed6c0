#include "tests/compressors/reference/sseds_reference.h"

#include <cmath>

namespace ecps::sseds_ref {

std::vector<double> MaskGradient(const FeatureSpace& s, std::span<const float> e,
                                 std::span<const float> g) {
  const int nf = s.num_fields(), d = s.dim;
  std::vector<double> out(static_cast<size_t>(nf) * d, 0.0);
  const size_t keys = e.size() / d;
  for (int f = 0; f < nf; ++f)
    for (int j = 0; j < d; ++j)
      for (size_t i = f; i < keys; i += nf) out[f * d + j] += double{g[i * d + j]} * e[i * d + j];
  return out;
}

uint64_t Bytes(const FeatureSpace& s, const std::vector<int>& dims) {
  uint64_t b = 0;
  for (int f = 0; f < s.num_fields(); ++f) {
    b += 4 * s.cardinalities[f] * dims[f];
    if (dims[f] < s.dim) b += 4 * static_cast<uint64_t>(dims[f]) * s.dim;
    b += 4;
  }
  return b;
}

std::vector<int> Dims(const FeatureSpace& s, const std::vector<double>& saliency,
                      uint64_t budget_bytes) {
  const int nf = s.num_fields(), d = s.dim;
  // The rank of column j in its field: the columns before it (more salient,
  // or as salient with a lower index).
  std::vector<int> rank(saliency.size(), 0);
  for (int f = 0; f < nf; ++f)
    for (int j = 0; j < d; ++j)
      for (int k = 0; k < d; ++k) {
        const double a = saliency[f * d + k], b = saliency[f * d + j];
        if (a > b || (a == b && k < j)) ++rank[f * d + j];
      }
  std::vector<int> dims(nf, 1);
  std::vector<bool> done(saliency.size(), false);
  for (size_t k = 0; k < saliency.size(); ++k) done[k] = rank[k] == 0;
  while (true) {
    // The best remaining column: most salient, then lowest rank, then field.
    int best = -1;
    for (int k = 0; k < static_cast<int>(saliency.size()); ++k) {
      if (done[k]) continue;
      if (best < 0) {
        best = k;
        continue;
      }
      const double a = saliency[k], b = saliency[best];
      if (a > b ||
          (a == b && (rank[k] < rank[best] || (rank[k] == rank[best] && k / d < best / d))))
        best = k;
    }
    if (best < 0) break;
    done[best] = true;
    std::vector<int> next = dims;
    ++next[best / d];
    if (Bytes(s, next) <= budget_bytes) dims = next;
  }
  return dims;
}

std::vector<double> Lookup(const SsedsEmbedding& m, const FeatureSpace& s,
                           const std::vector<std::vector<double>>& tables,
                           std::span<const double> projections, std::span<const uint32_t> keys) {
  const int nf = s.num_fields(), d = s.dim;
  const auto& layout = m.layout();
  std::vector<double> out(keys.size() * d, 0.0);
  for (size_t i = 0; i < keys.size(); ++i) {
    const int f = static_cast<int>(i % nf);
    const int w = layout.dims()[f];
    const std::vector<double>& t = tables[layout.tables().table[f]];
    const size_t row = (layout.tables().row_off[f] + keys[i]) * w;
    for (int c = 0; c < d; ++c) {
      if (w == d) {
        out[i * d + c] = t[row + c];
        continue;
      }
      double sum = 0;
      for (int a = 0; a < w; ++a)
        sum +=
            t[row + a] * projections[layout.projection_offset(f) + static_cast<size_t>(a) * d + c];
      out[i * d + c] = sum;
    }
  }
  return out;
}

}  // namespace ecps::sseds_ref
