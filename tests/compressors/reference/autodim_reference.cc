#include "tests/compressors/reference/autodim_reference.h"

#include <cmath>

namespace ecps::autodim_ref {

std::vector<double> Lookup(const AutoDimEmbedding& m, const FeatureSpace& s,
                           const std::vector<std::vector<double>>& tables,
                           std::span<const double> params, std::span<const double> buffers,
                           std::span<const uint32_t> keys, bool training,
                           std::span<const double> noise, double tau) {
  const size_t n = keys.size();
  const int nf = s.num_fields(), d = s.dim;
  std::vector<double> out(n * d, 0.0);
  if (m.stage() == 1) {
    for (size_t i = 0; i < n; ++i) {
      const int f = static_cast<int>(i % nf);
      const int w = m.dims()[f];
      const size_t row = m.table_offset(f) + keys[i];
      for (int c = 0; c < d; ++c) {
        double v = params[m.field_offset(f) + static_cast<size_t>(w) * d + c];
        for (int a = 0; a < w; ++a)
          v += tables[m.table(f)][row * w + a] * params[m.field_offset(f) + a * d + c];
        out[i * d + c] = v;
      }
    }
    return out;
  }
  const std::vector<int>& cands = m.candidates();
  const int nk = static_cast<int>(cands.size());
  for (int k = 0; k < nk; ++k) {
    const int c = cands[k];
    std::vector<double> h(n * d);
    for (size_t i = 0; i < n; ++i) {
      const int f = static_cast<int>(i % nf);
      const size_t row = s.offsets[f] + keys[i];
      for (int j = 0; j < d; ++j) {
        double v = params[m.b_offset(k) + f * d + j];
        for (int a = 0; a < c; ++a)
          v += tables[k][row * c + a] * params[m.w_offset(k) + (f * c + a) * d + j];
        h[i * d + j] = v;
      }
    }
    for (int j = 0; j < d; ++j) {
      double mean = 0, var = 0;
      if (training) {
        for (size_t i = 0; i < n; ++i) mean += h[i * d + j];
        mean /= n;
        for (size_t i = 0; i < n; ++i) var += (h[i * d + j] - mean) * (h[i * d + j] - mean);
        var /= n;
      } else {
        mean = buffers[2 * k * d + j];
        var = buffers[2 * k * d + d + j];
      }
      for (size_t i = 0; i < n; ++i) {
        const int f = static_cast<int>(i % nf);
        // The mixture weight of candidate k in field f.
        double lse = 0;
        for (int q = 0; q < nk; ++q) lse += std::exp(params[m.alpha_offset() + f * nk + q]);
        lse = std::log(lse);
        std::vector<double> z(nk);
        double zs = 0;
        for (int q = 0; q < nk; ++q) {
          z[q] = std::exp((params[m.alpha_offset() + f * nk + q] - lse +
                           (noise.empty() ? 0.0 : noise[f * nk + q])) /
                          tau);
          zs += z[q];
        }
        out[i * d + j] +=
            z[k] / zs * (h[i * d + j] - mean) / std::sqrt(var + AutoDimEmbedding::kBnEps);
      }
    }
  }
  return out;
}

}  // namespace ecps::autodim_ref
