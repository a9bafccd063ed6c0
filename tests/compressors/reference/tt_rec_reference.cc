#include "tests/compressors/reference/tt_rec_reference.h"

#include <cmath>

namespace ecps::tt_rec_ref {

std::array<uint64_t, 3> RowShape(uint64_t n) {
  uint64_t a = 1;
  while (a * a * a < n) ++a;
  uint64_t b = 1;
  while (b * b * a < n) ++b;
  uint64_t c = 1;
  while (c * a * b < n) ++c;
  return {c, b, a};
}

std::array<int, 3> PowerOfTwoColumnShape(int d) {
  std::array<int, 3> c{2, 2, 2};
  for (int k = 2; c[0] * c[1] * c[2] < d; k = (k + 2) % 3) c[k] *= 2;
  return c;
}

uint64_t InferenceBytes(const FeatureSpace& s, const std::array<int, 3>& cols, uint64_t rank,
                        uint64_t threshold) {
  uint64_t bytes = 16;
  for (uint64_t n : s.cardinalities) {
    const std::array<uint64_t, 3> N = RowShape(n);
    const uint64_t tt =
        N[0] * cols[0] * rank + N[1] * rank * cols[1] * rank + N[2] * rank * cols[2];
    const uint64_t full = n * static_cast<uint64_t>(s.dim);
    bytes += n > threshold && tt < full ? 4 * tt + 12 : 4 * full;
  }
  return bytes;
}

uint64_t Rank(const FeatureSpace& s, const std::array<int, 3>& cols, double budget,
              uint64_t threshold) {
  const uint64_t limit = static_cast<uint64_t>(
      std::floor(4.0L * s.total() * static_cast<long double>(s.dim) * budget));
  for (uint64_t r = 1000; r >= 1; --r)
    if (InferenceBytes(s, cols, r, threshold) <= limit) return r;
  return 1;
}

std::vector<double> Lookup(const TtRecEmbedding& m, const FeatureSpace& s,
                           const TableValues& tables, std::span<const uint32_t> keys,
                           std::vector<double>* abs_sum) {
  const int d = s.dim, nf = s.num_fields();
  const uint64_t R = m.rank();
  const std::array<int, 3> D = m.column_shape();
  std::vector<double> out(keys.size() * d, 0.0);
  if (abs_sum != nullptr) abs_sum->assign(out.size(), 0.0);
  for (size_t i = 0; i < keys.size(); ++i) {
    const int f = static_cast<int>(i % nf);
    const uint64_t x = keys[i];
    // Offsets: the rows of the fields before f in each table.
    uint64_t off[3] = {0, 0, 0}, e0 = 0;
    for (int g = 0; g < f; ++g) {
      if (m.compressed(g)) {
        const std::array<uint64_t, 3> N = RowShape(s.cardinalities[g]);
        for (int c = 0; c < 3; ++c) off[c] += N[c];
      } else {
        e0 += s.cardinalities[g];
      }
    }
    double* o = out.data() + i * d;
    if (!m.compressed(f)) {
      for (int j = 0; j < d; ++j) o[j] = tables[3][(e0 + x) * d + j];
      if (abs_sum != nullptr)
        for (int j = 0; j < d; ++j) (*abs_sum)[i * d + j] = std::abs(o[j]);
      continue;
    }
    const std::array<uint64_t, 3> N = RowShape(s.cardinalities[f]);
    const uint64_t i0 = x % N[0], i1 = (x / N[0]) % N[1], i2 = x / (N[0] * N[1]);
    const double* g0 = tables[0].data() + (off[0] + i0) * D[0] * R;
    const double* g1 = tables[1].data() + (off[1] + i1) * R * D[1] * R;
    const double* g2 = tables[2].data() + (off[2] + i2) * R * D[2];
    for (int a = 0; a < D[0]; ++a)
      for (int b = 0; b < D[1]; ++b)
        for (int c = 0; c < D[2]; ++c) {
          double sum = 0, abs = 0;
          for (uint64_t r = 0; r < R; ++r)
            for (uint64_t q = 0; q < R; ++q) {
              const double t = g0[a * R + r] * g1[r * D[1] * R + b * R + q] * g2[q * D[2] + c];
              sum += t;
              abs += std::abs(t);
            }
          o[(a * D[1] + b) * D[2] + c] = sum;
          if (abs_sum != nullptr) (*abs_sum)[i * d + (a * D[1] + b) * D[2] + c] = abs;
        }
  }
  return out;
}

}  // namespace ecps::tt_rec_ref
