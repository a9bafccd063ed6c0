#include "compressors/pruning/magnitude_threshold.h"

#include <algorithm>
#include <cmath>

namespace ecps::pruning {

StatusOr<ThresholdResult> SearchThreshold(const ThresholdCounter& count, double total,
                                          double target, double tolerance, bool at_least) {
  ThresholdResult best;
  double lo = 0, hi = 100;
  bool have = false;
  double best_gap = 0;
  auto consider = [&](double tau, double pruned) {
    if (at_least && pruned < target) return;
    const double gap = std::fabs(pruned - target);
    if (!have || gap < best_gap || (gap == best_gap && tau < best.tau)) {
      have = true;
      best_gap = gap;
      best.tau = tau;
      best.pruned = pruned;
    }
  };
  for (int round = 0; round < kMaxThresholdRounds; ++round) {
    std::vector<double> cand(kThresholdCandidates + 3);
    for (int k = 0; k <= kThresholdCandidates + 1; ++k)
      cand[k] = lo + (hi - lo) * k / (kThresholdCandidates + 1);
    cand[kThresholdCandidates + 1] = hi;
    cand[kThresholdCandidates + 2] = kPrunedFloor;
    ASSIGN_OR_RETURN(std::vector<double> c, count(cand));
    ++best.rounds;
    if (c.size() != cand.size())
      return DataLoss("threshold search: ", c.size(), " counts for ", cand.size(), " thresholds");
    const double sentinels = total - c.back();
    std::vector<double> p(kThresholdCandidates + 2);
    for (int k = 0; k <= kThresholdCandidates + 1; ++k) p[k] = c[k] + sentinels;
    if (p.back() < target && hi < kPrunedFloor / 16) {
      // Everything below 100 is not enough: widen.
      consider(hi, p.back());
      lo = hi;
      hi *= 16;
      continue;
    }
    int k = 1;
    while (k <= kThresholdCandidates + 1 && p[k] < target) ++k;
    if (k > kThresholdCandidates + 1) k = kThresholdCandidates + 1;  // the widest: all it can
    consider(cand[k - 1], p[k - 1]);
    consider(cand[k], p[k]);
    const double new_lo = cand[k - 1], new_hi = cand[k];
    if (have && best_gap < tolerance) break;
    // Nothing left between two adjacent doubles (or floats: the values are).
    if (!(new_hi - new_lo > 1e-12 * std::max(1.0, new_hi))) break;
    lo = new_lo;
    hi = new_hi;
  }
  if (!have)
    return FailedPrecondition("threshold search: no threshold prunes ", target, " of ", total,
                              " elements");
  return best;
}

StatusOr<ThresholdResult> SortedThreshold(std::span<const double> sorted, double pruned_already,
                                          double target, double tolerance, bool at_least) {
  return SearchThreshold(
      [&](const std::vector<double>& t) -> StatusOr<std::vector<double>> {
        std::vector<double> c(t.size());
        for (size_t k = 0; k < t.size(); ++k)
          c[k] = static_cast<double>(std::lower_bound(sorted.begin(), sorted.end(), t[k]) -
                                     sorted.begin()) +
                 (t[k] > kPrunedFloor ? pruned_already : 0.0);
        return c;
      },
      static_cast<double>(sorted.size()) + pruned_already, target, tolerance, at_least);
}

StatusOr<ThresholdResult> MagnitudeThreshold(const RowAccess& rows, int table, double target,
                                             double tolerance, bool at_least) {
  const std::vector<RowTableSpec> specs = rows.StoredTables();
  if (table < 0 || static_cast<size_t>(table) >= specs.size())
    return OutOfRange("threshold search: table ", table, " not in [0, ", specs.size(), ")");
  const double total = static_cast<double>(specs[table].rows) * specs[table].width;
  RowReduction op;
  op.kind = RowReductionKind::kThresholdCounts;
  op.table = table;
  op.block_rows = 1;
  return SearchThreshold(
      [&](const std::vector<double>& t) -> StatusOr<std::vector<double>> {
        op.thresholds = t;
        return rows.ReduceRows(op);
      },
      total, target, tolerance, at_least);
}

}  // namespace ecps::pruning
