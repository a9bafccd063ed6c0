#include "tests/compressors/reference/cce_reference.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ecps::cce_ref {
namespace {

using u128 = unsigned __int128;

// ((a·x + b) mod P) mod m, computed with a full 128-bit `%`.
uint64_t Universal(const hashing_internal::UniversalHash& h, uint64_t x, uint64_t m) {
  const u128 p = (static_cast<u128>(1) << 61) - 1;
  return static_cast<uint64_t>((static_cast<u128>(h.a) * x + h.b) % p) % m;
}

// Field f's first row in T0/T1 (compressed) or E (full), from the fields
// before it.
uint64_t Offset(const CceEmbedding& m, const FeatureSpace& s, int f) {
  uint64_t t = 0, e = 0;
  for (int g = 0; g < f; ++g) {
    if (m.rows_per_column(g) == 0) {
      e += s.cardinalities[g];
    } else {
      t += static_cast<uint64_t>(m.chunks()) * m.rows_per_column(g);
    }
  }
  return m.rows_per_column(f) == 0 ? e : t;
}

}  // namespace

std::vector<float> CceLookup(const CceEmbedding& m, const FeatureSpace& s,
                             const TableValues& tables, std::span<const uint32_t> keys) {
  const int d = s.dim, nf = s.num_fields(), c = m.chunks(), w = d / c;
  std::vector<float> out;
  for (size_t p = 0; p < keys.size(); ++p) {
    const int f = static_cast<int>(p % nf);
    const uint64_t x = keys[p], k = m.rows_per_column(f), off = Offset(m, s, f);
    if (k == 0) {
      for (int j = 0; j < d; ++j) out.push_back(tables[2][(off + x) * d + j]);
      continue;
    }
    for (int i = 0; i < c; ++i) {
      const uint64_t r0 = off + i * k + m.code(f, x, i);
      const uint64_t r1 = off + i * k + Universal(m.second_hash(f, i), x, k);
      for (int j = 0; j < w; ++j) out.push_back(tables[0][r0 * w + j] + tables[1][r1 * w + j]);
    }
  }
  return out;
}

std::vector<float> AllVectors(const CceEmbedding& m, const FeatureSpace& s,
                              const TableValues& tables) {
  std::vector<float> all;
  const int nf = s.num_fields();
  for (int f = 0; f < nf; ++f) {
    // One sample per feature of field f, the other fields at id 0.
    std::vector<uint32_t> keys;
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x)
      for (int g = 0; g < nf; ++g) keys.push_back(g == f ? static_cast<uint32_t>(x) : 0);
    const std::vector<float> v = CceLookup(m, s, tables, keys);
    for (uint64_t x = 0; x < s.cardinalities[f]; ++x) {
      const float* e = v.data() + (x * nf + f) * s.dim;
      all.insert(all.end(), e, e + s.dim);
    }
  }
  return all;
}

ClusteringCheck CheckClustering(const CceEmbedding& after, const FeatureSpace& s,
                                const TableValues& tables, const std::vector<float>& before) {
  ClusteringCheck r;
  const int d = s.dim, c = after.chunks(), w = d / c;
  uint64_t first = 0;  // field f's first vector in `before`
  for (int f = 0; f < s.num_fields(); first += s.cardinalities[f], ++f) {
    const uint64_t k = after.rows_per_column(f), n = s.cardinalities[f];
    if (k == 0) continue;
    const uint64_t off = Offset(after, s, f);
    for (int i = 0; i < c; ++i) {
      std::vector<double> sum(k * w, 0.0);
      std::vector<uint64_t> count(k, 0);
      for (uint64_t x = 0; x < n; ++x) {
        const float* v = before.data() + (first + x) * d + i * w;
        uint64_t best = 0;
        float best_d = 0;
        for (uint64_t row = 0; row < k; ++row) {
          float dist = 0;
          for (int j = 0; j < w; ++j) {
            const float t = v[j] - tables[0][(off + i * k + row) * w + j];
            dist += t * t;
          }
          if (row == 0 || dist < best_d) best = row, best_d = dist;
        }
        ++r.codes;
        const uint64_t code = after.code(f, x, i);
        if (code != best) ++r.wrong_codes;
        const uint64_t b = Universal(after.second_hash(f, i), x, k);
        for (int j = 0; j < w; ++j)
          sum[b * w + j] += v[j] - tables[0][(off + i * k + code) * w + j];
        ++count[b];
      }
      for (uint64_t row = 0; row < k; ++row) {
        ++r.t1_rows;
        for (int j = 0; j < w; ++j) {
          const double want = count[row] == 0 ? 0.0 : sum[row * w + j] / count[row];
          r.max_t1_error =
              std::max(r.max_t1_error, std::abs(want - tables[1][(off + i * k + row) * w + j]));
        }
      }
    }
  }
  return r;
}

}  // namespace ecps::cce_ref
