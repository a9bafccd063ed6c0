// Deliberately naive reference of Dedup (docs/methods.md §2.10), a test
// oracle (style.md rule 13; linked by tests only): the whole table in one
// array, exact percentiles by sorting, projections as plain triple loops
// over (band, row, column), similarities by comparing every position, and the
// lookup as the literal map[x div R_b]·R_b + (x mod R_b).
//
// `table` holds all n rows of E (n x d, as RowAccess::ReadRows returns them).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "compressors/dedup/dedup.h"

namespace ecps::dedup_ref {

// numpy.percentile(values of block b, 75) (linear interpolation) for every
// block of `block_rows` rows; the last block's missing rows are not values.
std::vector<double> BlockPercentiles75(const std::vector<float>& table, uint64_t n, int d,
                                       uint64_t block_rows);

// Blocks in ascending order of `p75` (ties: lower block first).
std::vector<uint32_t> VisitOrder(const std::vector<double>& p75);

struct Result {
  std::vector<int64_t> target;  // per block: the block it was mapped to, or -1
  std::vector<uint32_t> kept;   // kept blocks, ascending
  std::vector<int32_t> map;     // per block: its new block
  uint64_t visited = 0;
  uint64_t pairs = 0;  // candidate pairs compared (every candidate of every visited block)
};

// The greedy of §2.10 with `m`'s parameters (block_rows, bands, r,
// lsh_threshold, fp, sim, LSH seed, the budget's needed blocks), visiting
// blocks in `order`.
Result Deduplicate(const DedupEmbedding& m, const std::vector<float>& table, uint64_t n, int d,
                   const std::vector<uint32_t>& order);

// The lookup of `keys` (field-local, sample-major) through `map` from the
// pre-dedup table: row = offset_f + x, block b = row div R_b, result
// table[kept[map[b]]·R_b + row mod R_b]. Output [keys.size() x d].
std::vector<float> Lookup(const FeatureSpace& s, uint64_t block_rows,
                          const std::vector<float>& table, const std::vector<uint32_t>& kept,
                          const std::vector<int32_t>& map, std::span<const uint32_t> keys);

}  // namespace ecps::dedup_ref
