// Deliberately naive reference of CCE (docs/methods.md §2.3b), a test oracle
// (style.md rule 13; linked by tests only): the lookup recomputes every row
// index with plain loops (offsets by walking the fields before, the second
// hash with a full 128-bit `%`), and the clustering check recomputes, for
// every feature, its nearest new centroid and the mean residual of every new
// second-hash bucket from the feature's column vectors before the
// clustering.
//
// `tables` holds all rows of T0, T1 and E (rows x width, as
// RowAccess::ReadRows returns them); `keys` are field-local and sample-major
// (field = i % F).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "compressors/hashing/cce.h"

namespace ecps::cce_ref {

using TableValues = std::vector<std::vector<float>>;

// [keys.size() x d]: per compressed field, column i is
// T0[off_f + i·k_f + h0(x, i)] + T1[off_f + i·k_f + h1_i(x)]; a full field
// copies its E row.
std::vector<float> CceLookup(const CceEmbedding& m, const FeatureSpace& s,
                             const TableValues& tables, std::span<const uint32_t> keys);

// Every feature's d-vector, field by field (field f's n_f vectors after the
// fields before), by CceLookup.
std::vector<float> AllVectors(const CceEmbedding& m, const FeatureSpace& s,
                              const TableValues& tables);

struct ClusteringCheck {
  uint64_t codes = 0;        // codes checked (features x columns of compressed fields)
  uint64_t wrong_codes = 0;  // codes that are not the nearest new centroid
  double max_t1_error = 0;   // max |T1 - mean residual of its bucket|
  uint64_t t1_rows = 0;      // T1 rows checked
};

// Checks `after` (the method with its clustering applied, and its tables)
// against `before` (AllVectors of the model before the clustering): h0(x, i)
// is the T0 row of column i nearest to x's column vector (squared L2 summed
// in coordinate order, the smallest row on ties), and each T1 row is the
// mean of v_i(x) - T0[h0(x, i)] over the x with h1_i(x) on it (0 if none).
ClusteringCheck CheckClustering(const CceEmbedding& after, const FeatureSpace& s,
                                const TableValues& tables, const std::vector<float>& before);

}  // namespace ecps::cce_ref
