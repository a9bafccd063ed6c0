// The one mapping kind behind the dynamic hashing methods (docs/methods.md
// §2.14 AdaptEmb `mode=dynamic`, §2.14b MCH): in each partition the data rows
// are split into shared rows [0, R_p) and slots [R_p, rows_p). A key uses the
// shared row KeyHash(seed, key) mod R_p until its decayed frequency reaches
// the admission threshold; then it gets a slot of its own (a free one, or, by
// LFU, the slot of the coldest owner if that owner is colder; by TTL, slots
// whose owners were not seen for `ttl` steps are freed first). A key that
// loses its slot goes back to its shared row.
//   mch       a slot handed to a new key starts from fresh initial values
//             (KeyInitialRow) and fresh optimizer state: a new feature never
//             inherits a stale row; an evicted row is dropped.
//   adaptemb  a promoted key's slot starts from its shared row (DeepRec's
//             adaptive embedding); a demoted key's row is folded back into its
//             shared row: shared <- (1 - fold) * shared + fold * slot.
// Admissions are decided every `interval` steps (EndStep), by a scan of the
// partition's keys and slots, so the decision is a function of the state rows
// alone (a resumed run decides exactly as an uninterrupted one).
//
// State rows: key [slot + 1 (0: none), decayed count, last step seen];
// row [owner local key + 1 (0: free)].
#pragma once

#include <cstdint>
#include <vector>

#include "compressors/key_mapping.h"

namespace ecps::dynamic_internal {

// The parameters of a slot mapping, in KeyMappingSpec::params order.
struct SlotParams {
  double shared_fraction = 0.05;  // R_p = max(1, round(rows_p * shared_fraction))
  double admit = 2;               // decayed count that earns a slot
  double half_life = 0;           // steps; 0: counts never decay
  bool ttl = false;               // eviction: false LFU, true TTL
  double ttl_steps = 0;
  double interval = 1;  // steps between admission rounds
  double fold = 0.5;    // adaptemb: weight of a demoted row folded back
  std::vector<double> Encode() const;
  // The first kCount values of `p` (a kind may append its own).
  static SlotParams Decode(const std::vector<double>& p);
  static constexpr size_t kCount = 7;
};

// Shared rows of a partition holding `rows` data rows.
uint64_t SharedRows(const SlotParams& p, uint64_t rows);

// The registered kinds.
const KeyMappingKind* MchKind();
const KeyMappingKind* AdaptEmbKind();
const KeyMappingKind* CafeKind();  // cafe.cc

}  // namespace ecps::dynamic_internal
