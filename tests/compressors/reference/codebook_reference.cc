#include "tests/compressors/reference/codebook_reference.h"

#include <cmath>
#include <cstddef>

namespace ecps::codebook_ref {
namespace {

double Score(const std::vector<float>& q, size_t key, int dim, const std::vector<float>& codebook,
             int parts, int choices, int p, int j) {
  const int pd = dim / parts;
  double s = 0;
  for (int e = 0; e < pd; ++e) {
    const double diff = static_cast<double>(q[key * dim + p * pd + e]) -
                        codebook[(static_cast<size_t>(p) * choices + j) * pd + e];
    s += diff * diff;
  }
  return -s;
}

}  // namespace

std::vector<int> Codes(const std::vector<float>& q, int dim, const std::vector<float>& codebook,
                       int parts, int choices, const std::vector<int>& limit, Norm norm,
                       const std::vector<float>& mean, const std::vector<float>& var) {
  const size_t m = q.size() / dim;
  std::vector<int> codes(m * parts);
  for (int p = 0; p < parts; ++p) {
    // Every column's shift and factor.
    std::vector<double> shift(choices, 0.0), factor(choices, 1.0);
    for (int j = 0; j < choices; ++j) {
      const int col = p * choices + j;
      if (norm == Norm::kBatch) {
        double sum = 0;
        for (size_t i = 0; i < m; ++i) sum += Score(q, i, dim, codebook, parts, choices, p, j);
        const double mu = sum / m;
        double sq = 0;
        for (size_t i = 0; i < m; ++i) {
          const double dv = Score(q, i, dim, codebook, parts, choices, p, j) - mu;
          sq += dv * dv;
        }
        shift[j] = mu;
        factor[j] = 1 / std::sqrt(sq / m + 1e-5);
      } else if (norm == Norm::kRunning) {
        shift[j] = mean[col];
        factor[j] = 1 / std::sqrt(var[col] + 1e-5);
      }
    }
    for (size_t i = 0; i < m; ++i) {
      const int lim = limit.empty() ? choices : limit[i];
      int best = 0;
      double best_v = -1e300;
      for (int j = 0; j < lim; ++j) {
        const double v = (Score(q, i, dim, codebook, parts, choices, p, j) - shift[j]) * factor[j];
        if (v > best_v) {
          best_v = v;
          best = j;
        }
      }
      codes[i * parts + p] = best;
    }
  }
  return codes;
}

std::vector<float> Decode(const std::vector<float>& codebook, const std::vector<int>& codes,
                          int dim, int parts, int choices) {
  const int pd = dim / parts;
  const size_t m = codes.size() / parts;
  std::vector<float> out(m * dim);
  for (size_t i = 0; i < m; ++i)
    for (int p = 0; p < parts; ++p)
      for (int e = 0; e < pd; ++e)
        out[i * dim + p * pd + e] =
            codebook[(static_cast<size_t>(p) * choices + codes[i * parts + p]) * pd + e];
  return out;
}

double SquaredError(const std::vector<float>& q, const std::vector<float>& codebook,
                    const std::vector<int>& codes, int dim, int parts, int choices) {
  const std::vector<float> c = Decode(codebook, codes, dim, parts, choices);
  double s = 0;
  for (size_t k = 0; k < c.size(); ++k) {
    const double diff = static_cast<double>(c[k]) - q[k];
    s += diff * diff;
  }
  return s;
}

}  // namespace ecps::codebook_ref
