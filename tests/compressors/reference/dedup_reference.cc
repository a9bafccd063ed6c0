#include "tests/compressors/reference/dedup_reference.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "common/rng.h"
#include "compressors/hashing/hashing_util.h"
#include "compressors/row_reduction.h"

namespace ecps::dedup_ref {

std::vector<double> BlockPercentiles75(const std::vector<float>& table, uint64_t n, int d,
                                       uint64_t block_rows) {
  std::vector<double> out;
  for (uint64_t first = 0; first < n; first += block_rows) {
    const uint64_t last = std::min(n, first + block_rows);
    std::vector<double> v(table.begin() + first * d, table.begin() + last * d);
    std::sort(v.begin(), v.end());
    const double pos = 0.75 * static_cast<double>(v.size() - 1);
    const size_t i = static_cast<size_t>(std::floor(pos));
    const double frac = pos - static_cast<double>(i);
    out.push_back(i + 1 < v.size() ? v[i] + frac * (v[i + 1] - v[i]) : v[i]);
  }
  return out;
}

std::vector<uint32_t> VisitOrder(const std::vector<double>& p75) {
  std::vector<std::pair<double, uint32_t>> v;
  for (uint32_t b = 0; b < p75.size(); ++b) v.push_back({p75[b], b});
  std::sort(v.begin(), v.end());
  std::vector<uint32_t> order;
  for (const auto& [p, b] : v) order.push_back(b);
  return order;
}

Result Deduplicate(const DedupEmbedding& m, const std::vector<float>& table, uint64_t n, int d,
                   const std::vector<uint32_t>& order) {
  const uint64_t R = m.block_rows();
  const uint64_t blocks = (n + R - 1) / R;
  auto rows_of = [&](uint64_t b) { return std::min(R, n - b * R); };
  // Hashes h_j(b) = ceil((a_j·v_b + b_j) / r) with the literal sums.
  std::vector<double> offsets;
  Rng rng(hashing_internal::MethodSeed(m.lsh_seed(), 1));
  for (int j = 0; j < m.bands(); ++j) offsets.push_back(rng.Uniform(0.0, m.r()));
  std::vector<std::vector<int64_t>> hash(blocks, std::vector<int64_t>(m.bands()));
  for (uint64_t b = 0; b < blocks; ++b)
    for (int j = 0; j < m.bands(); ++j) {
      double dot = 0;
      for (uint64_t i = 0; i < rows_of(b); ++i)
        for (int c = 0; c < d; ++c)
          dot += static_cast<double>(RowReductionDirection(m.lsh_seed(), j, i * d + c)) *
                 table[(b * R + i) * d + c];
      hash[b][j] = static_cast<int64_t>(std::ceil((dot + offsets[j]) / m.r()));
    }
  Result res;
  res.target.assign(blocks, -1);
  std::map<std::pair<int, int64_t>, std::set<uint32_t>> buckets;
  const bool partial_last = n % R != 0;
  uint64_t removed = 0;
  for (uint32_t b : order) {
    if (m.needed() == 0) break;
    ++res.visited;
    std::map<uint32_t, int> hits;
    for (int j = 0; j < m.bands(); ++j)
      for (uint32_t c : buckets[{j, hash[b][j]}]) ++hits[c];
    if (!(partial_last && b == blocks - 1))
      for (int j = 0; j < m.bands(); ++j) buckets[{j, hash[b][j]}].insert(b);
    // Candidates by descending collisions, then ascending block (the order
    // in which equal similarities are decided).
    std::vector<std::pair<int, uint32_t>> ranked;
    for (const auto& [c, h] : hits)
      if (h >= std::max(1, m.lsh_threshold())) ranked.push_back({-h, c});
    std::sort(ranked.begin(), ranked.end());
    int64_t best = -1;
    double best_sim = 0;
    for (const auto& [neg_h, c] : ranked) {
      ++res.pairs;
      uint64_t agree = 0;
      for (uint64_t i = 0; i < rows_of(b); ++i)
        for (int k = 0; k < d; ++k)
          agree += std::fabs(table[(b * R + i) * d + k] - table[(c * R + i) * d + k]) <=
                           static_cast<float>(m.fp())
                       ? 1
                       : 0;
      const double sim = static_cast<double>(agree) / static_cast<double>(rows_of(b) * d);
      if (sim >= m.sim() && (best < 0 || sim > best_sim)) {
        best = c;
        best_sim = sim;
      }
    }
    if (best >= 0) {
      res.target[b] = best;
      removed += rows_of(b);
    }
    if (removed >= m.needed() * R) break;
  }
  for (uint32_t b = 0; b < blocks; ++b)
    if (res.target[b] < 0) res.kept.push_back(b);
  for (uint32_t b = 0; b < blocks; ++b) {
    int64_t r = b;
    while (res.target[r] >= 0) r = res.target[r];
    res.map.push_back(static_cast<int32_t>(
        std::lower_bound(res.kept.begin(), res.kept.end(), static_cast<uint32_t>(r)) -
        res.kept.begin()));
  }
  return res;
}

std::vector<float> Lookup(const FeatureSpace& s, uint64_t block_rows,
                          const std::vector<float>& table, const std::vector<uint32_t>& kept,
                          const std::vector<int32_t>& map, std::span<const uint32_t> keys) {
  std::vector<float> out;
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t row = s.offsets[i % s.num_fields()] + keys[i];
    const uint64_t b = row / block_rows;
    const uint64_t src = kept[map[b]] * block_rows + row % block_rows;
    out.insert(out.end(), table.begin() + src * s.dim, table.begin() + (src + 1) * s.dim);
  }
  return out;
}

}  // namespace ecps::dedup_ref
