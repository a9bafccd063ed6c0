// Internal helpers shared by every method family (not part of the public
// API): feature-space validation, the methods.md §1.3 init bound, the full
// table's bytes, global-row encoding, and the base of methods whose single
// table holds one output row per lookup.
//
// Thread-safety: the free functions are pure; OneTableMethod is as Compressor.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "compressors/compressor.h"

namespace ecps::method_internal {

// Checks that `s` is usable by a method called `name`: at least one field,
// offsets that are the cumulative cardinalities, positive dim, some nonzero
// cardinality. Errors name the method.
Status CheckSpace(const char* name, const FeatureSpace& s);

// U(-b, b) with b = sqrt(1 / max_field_cardinality) (methods.md §1.3).
double InitBound(const FeatureSpace& s);

// Bytes of the uncompressed fp32 table, 4·n·d: the denominator of every
// reported ratio.
inline uint64_t FullBytes(const FeatureSpace& s) {
  return 4ull * s.total() * static_cast<uint64_t>(s.dim);
}

// Global row of each key: rows[i] = offsets[i % F] + keys[i] (sample-major batch).
void GlobalRows(const FeatureSpace& s, std::span<const uint32_t> keys, std::vector<uint64_t>* rows);

// Decode of a table that holds the output rows: out = rows.values[table].
void CopyRows(const FetchedRows& rows, int table, size_t floats, float* out);

// Base of the methods that look up one row of one table per feature and
// output it unchanged (full, hash, FP16, INT8/16, ALPT, Post4Bits): Encode =
// global row (subclasses may map it, e.g. mod m), Decode and DecodeBackward =
// copy. Subclasses set space_ in Init().
class OneTableMethod : public Compressor {
 public:
  void Encode(std::span<const uint32_t> keys, LookupPlan* plan) const override;
  void Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const override;
  void DecodeBackward(const LookupPlan& plan, const FetchedRows& rows, const float* grad_out,
                      FetchedRows* row_grads) override;

 protected:
  FeatureSpace space_;
};

}  // namespace ecps::method_internal
