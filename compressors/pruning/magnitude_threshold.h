// The global magnitude threshold of the pruning methods (docs/methods.md
// §2.23): the τ at which the number of pruned elements of a table is a
// target, found where the rows are. Each round sends kThresholdCandidates
// candidate thresholds in one RowAccess::ReduceRows (kThresholdCounts: every
// holder of rows counts |w| < τ_k over its own rows, the counts are summed),
// so a round is one round trip and no row crosses the network; the next
// round searches the bracket of the first candidate that prunes enough.
//
// Pruned elements are |w| < τ, plus the elements stored as the persistent
// mask's sentinel (|w| >= kPrunedFloor, DeepLight's persistent_mask): they
// count as pruned at every τ.
//
// Thread-safety: pure functions of their arguments (and of the rows).
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "common/status.h"
#include "compressors/storage.h"

namespace ecps::pruning {

// An element at or above this magnitude is a pruned one (the persistent
// mask's sentinel; no trained weight comes near it).
inline constexpr float kPrunedValue = 0x1.0p100f;
inline constexpr double kPrunedFloor = 0x1.0p99;
inline bool IsPruned(float v) { return !(v < kPrunedFloor && v > -kPrunedFloor); }

inline constexpr int kThresholdCandidates = 63;
inline constexpr int kMaxThresholdRounds = 40;

// The counts of |w| < thresholds[k] (one request).
using ThresholdCounter =
    std::function<StatusOr<std::vector<double>>(const std::vector<double>& thresholds)>;

struct ThresholdResult {
  double tau = 0;
  double pruned = 0;  // elements pruned at tau (|w| < tau or sentinel)
  int rounds = 0;     // requests sent
};

// `total` elements; `target` pruned ones wanted. at_least: the result prunes
// at least `target` (kept <= total - target: a budget), within `tolerance`
// above it where the values allow; otherwise the candidate closest to the
// target once it is within `tolerance` (DeepLight's |frac - s| < tol), or
// the closest after kMaxThresholdRounds. The search starts on [0, 100] and
// widens the top while 100 prunes too few.
StatusOr<ThresholdResult> SearchThreshold(const ThresholdCounter& count, double total,
                                          double target, double tolerance, bool at_least);

// SearchThreshold over magnitudes the caller holds (PEP's mask, AutoSrh's
// E ⊙ α, which no store holds): `sorted` ascending, plus `pruned_already`
// elements pruned at every τ; total = sorted.size() + pruned_already.
StatusOr<ThresholdResult> SortedThreshold(std::span<const double> sorted, double pruned_already,
                                          double target, double tolerance, bool at_least);

// SearchThreshold over table `table` of `rows` (ReduceRows, kThresholdCounts).
StatusOr<ThresholdResult> MagnitudeThreshold(const RowAccess& rows, int table, double target,
                                             double tolerance, bool at_least);

}  // namespace ecps::pruning
