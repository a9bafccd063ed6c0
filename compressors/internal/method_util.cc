#include "compressors/internal/method_util.h"

#include <cmath>
#include <cstring>

#include "common/check.h"
#include "common/file_util.h"

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

namespace {

// What identifies the feature space a state blob was written for.
struct SpaceFingerprint {
  uint32_t fields = 0;
  int32_t dim = 0;
  uint64_t features = 0;
  uint64_t cardinality_hash = 0;
  bool operator==(const SpaceFingerprint&) const = default;
};

SpaceFingerprint Fingerprint(const FeatureSpace& s) {
  SpaceFingerprint f;
  f.fields = static_cast<uint32_t>(s.num_fields());
  f.dim = s.dim;
  f.features = s.total();
  f.cardinality_hash =
      Checksum64(s.cardinalities.data(), s.cardinalities.size() * sizeof(uint64_t));
  return f;
}

}  // namespace

BlobWriter StateWriter(const char (&magic)[9], uint32_t version, const FeatureSpace& s) {
  BlobWriter w(magic, version);
  const SpaceFingerprint f = Fingerprint(s);
  w.Pod(f.fields);
  w.Pod(f.dim);
  w.Pod(f.features);
  w.Pod(f.cardinality_hash);
  return w;
}

Status OpenState(std::string_view blob, const char (&magic)[9], uint32_t max_version,
                 std::string_view method, const FeatureSpace& s, BlobReader* r) {
  const std::string name(method);
  RETURN_IF_ERROR(r->Open(blob, magic, max_version, name + " state"));
  SpaceFingerprint saved;
  if (!r->Pod(&saved.fields) || !r->Pod(&saved.dim) || !r->Pod(&saved.features) ||
      !r->Pod(&saved.cardinality_hash))
    return r->Truncated();
  const SpaceFingerprint now = Fingerprint(s);
  if (saved == now) return OkStatus();
  return FailedPrecondition(
      name, " state: written for a feature space of ", saved.fields, " fields, ", saved.features,
      " features, dim ", saved.dim,
      saved.fields == now.fields && saved.features == now.features && saved.dim == now.dim
          ? " (other cardinalities)"
          : "",
      "; this instance has ", now.fields, " fields, ", now.features, " features, dim ", now.dim);
}

Status EndState(const BlobReader& r) {
  if (!r.AtEnd()) return r.Truncated();
  return OkStatus();
}

Status StateMismatch(std::string_view method, std::string_view what, std::string_view saved,
                     std::string_view now) {
  return FailedPrecondition(std::string(method), " state: ", std::string(what), " is ",
                            std::string(saved), " in the checkpoint but ", std::string(now),
                            " in this configuration (was it trained with another budget, "
                            "parameters, train counts or seed?)");
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
