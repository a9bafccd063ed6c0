#include "compressors/internal/method_util.h"

#include <cmath>
#include <cstring>

#include "common/check.h"

namespace ecps::method_internal {

Status CheckSpace(const char* name, const FeatureSpace& s) {
  if (s.num_fields() == 0) return InvalidArgument(name, ": the feature space has no fields");
  if (s.offsets.size() != s.cardinalities.size())
    return InvalidArgument(name, ": ", s.offsets.size(), " offsets for ", s.cardinalities.size(),
                           " fields");
  if (s.dim <= 0) return InvalidArgument(name, ": embedding dim must be positive, got ", s.dim);
  if (s.max_cardinality() == 0) return InvalidArgument(name, ": every field has cardinality 0");
  uint64_t off = 0;
  for (int f = 0; f < s.num_fields(); ++f) {
    if (s.offsets[f] != off)
      return InvalidArgument(name, ": offset of field ", f, " is ", s.offsets[f], ", expected ",
                             off, " (cumulative cardinalities)");
    off += s.cardinalities[f];
  }
  return OkStatus();
}

double InitBound(const FeatureSpace& s) {
  return std::sqrt(1.0 / static_cast<double>(s.max_cardinality()));
}

void GlobalRows(const FeatureSpace& s, std::span<const uint32_t> keys,
                std::vector<uint64_t>* rows) {
  const size_t n = keys.size();
  const int f = s.num_fields();
  rows->resize(n);
  const uint64_t* off = s.offsets.data();
  // Walk field by field within each sample instead of computing i % f per key.
  int field = 0;
  for (size_t i = 0; i < n; ++i) {
    ECPS_DCHECK(keys[i] < s.cardinalities[field]);
    (*rows)[i] = off[field] + keys[i];
    if (++field == f) field = 0;
  }
}

void CopyRows(const FetchedRows& rows, int table, size_t floats, float* out) {
  const std::vector<float>& v = rows.values[table];
  ECPS_DCHECK(v.size() == floats);
  std::memcpy(out, v.data(), floats * sizeof(float));
}

void OneTableMethod::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  plan->Reset(static_cast<int>(keys.size()), 1);
  plan->per_key[0] = 1;
  GlobalRows(space_, keys, &plan->rows[0]);
}

void OneTableMethod::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  CopyRows(rows, 0, static_cast<size_t>(plan.num_keys) * space_.dim, out);
}

void OneTableMethod::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                    const float* grad_out, FetchedRows* row_grads) {
  std::vector<float>& g = row_grads->values[0];
  g.resize(static_cast<size_t>(plan.num_keys) * space_.dim);
  std::memcpy(g.data(), grad_out, g.size() * sizeof(float));
}

}  // namespace ecps::method_internal
