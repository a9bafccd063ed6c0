// Internal helpers shared by every method family (not part of the public
// API): feature-space validation, the docs/methods.md §1.3 init bound, the
// full table's bytes, global-row encoding, the framing of method state blobs,
// and the base of methods whose single table holds one output row per lookup.
//
// Thread-safety: the free functions are pure; OneTableMethod is as Compressor.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/blob.h"
#include "common/status.h"
#include "compressors/compressor.h"

namespace ecps::method_internal {

// Checks that `s` is usable by a method called `name`: at least one field,
// offsets that are the cumulative cardinalities, positive dim, some nonzero
// cardinality. Errors name the method.
Status CheckSpace(const char* name, const FeatureSpace& s);

// U(-b, b) with b = sqrt(1 / max_field_cardinality) (docs/methods.md §1.3).
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

// ------------------------------------------------------------ method state --
// Every method's SaveState() is one blob of common/blob.h under the method's
// own magic ("ECPSHASH", "ECPSROBE", ...; a method without state still
// writes one), whose payload starts with the fingerprint of the feature space
// it was Init'ed on (fields, features, dim and a hash of the cardinalities).
// LoadState() refuses
//   - a blob of another method, a truncated or corrupted one: DataLoss;
//   - a blob of another Init (another feature space, or parameters, budget,
//     train counts or seed that size or hash the method differently):
//     FailedPrecondition naming what differs.
// Every error starts with "<method> state:". A method's state is what its
// Init derives (sizes, collisions, hash constants, maps), so LoadState checks
// it against this instance rather than adopting it; what a run changes after
// Init (Post4Bits' stage) is restored.

// A writer with the method's magic and version and the space's fingerprint.
BlobWriter StateWriter(const char (&magic)[9], uint32_t version, const FeatureSpace& s);
// Opens a blob written by StateWriter() and checks the fingerprint against
// `s`; `method` names the method in errors.
Status OpenState(std::string_view blob, const char (&magic)[9], uint32_t max_version,
                 std::string_view method, const FeatureSpace& s, BlobReader* r);
// DataLoss unless the reader consumed the whole payload.
Status EndState(const BlobReader& r);
// FailedPrecondition "<method> state: <what> is <saved> in the checkpoint but
// <now> in this configuration ...".
Status StateMismatch(std::string_view method, std::string_view what, std::string_view saved,
                     std::string_view now);
template <typename T>
Status CheckSame(std::string_view method, std::string_view what, const T& saved, const T& now) {
  if (saved == now) return OkStatus();
  if constexpr (std::is_arithmetic_v<T>) {
    return StateMismatch(method, what, absl::StrCat(saved), absl::StrCat(now));
  } else if constexpr (std::is_enum_v<T>) {
    return StateMismatch(method, what, absl::StrCat(static_cast<int>(saved)),
                         absl::StrCat(static_cast<int>(now)));
  } else {
    return StateMismatch(method, what, "different", "what this configuration derives");
  }
}
template <typename T>
Status CheckSame(std::string_view method, std::string_view what, const std::vector<T>& saved,
                 const std::vector<T>& now) {
  if (saved == now) return OkStatus();
  if (saved.size() != now.size())
    return StateMismatch(method, what, absl::StrCat(saved.size(), " entries"),
                         absl::StrCat(now.size(), " entries"));
  size_t i = 0;
  for (size_t j = 0; j < saved.size(); ++j)
    if (!(saved[j] == now[j])) {
      i = j;
      break;
    }
  return StateMismatch(method,
                       absl::StrCat(std::string(what), " (entry ", i, " of ", saved.size(), ")"),
                       "different", "what this configuration derives");
}

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
