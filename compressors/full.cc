#include "compressors/full.h"

#include <cmath>
#include <cstring>

#include "common/check.h"

namespace ecps {

ParamSchema FullEmbedding::Schema() { return ParamSchema(); }

std::unique_ptr<Compressor> FullEmbedding::Create() { return std::make_unique<FullEmbedding>(); }

Status FullEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  const FeatureSpace& s = ctx.space;
  if (s.num_fields() == 0) return InvalidArgument("full: the feature space has no fields");
  if (s.offsets.size() != s.cardinalities.size())
    return InvalidArgument("full: ", s.offsets.size(), " offsets for ", s.cardinalities.size(),
                           " fields");
  if (s.dim <= 0) return InvalidArgument("full: embedding dim must be positive, got ", s.dim);
  if (s.max_cardinality() == 0) return InvalidArgument("full: every field has cardinality 0");
  space_ = s;
  init_bound_ = std::sqrt(1.0 / static_cast<double>(s.max_cardinality()));
  return OkStatus();
}

std::vector<RowTableSpec> FullEmbedding::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.init_bound = init_bound_;
  return {e};
}

void FullEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  const int f = space_.num_fields();
  plan->Reset(n, 1);
  plan->per_key[0] = 1;
  std::vector<uint64_t>& rows = plan->rows[0];
  rows.resize(n);
  const uint64_t* off = space_.offsets.data();
  // Walk field by field within each sample instead of computing i % f per key.
  int field = 0;
  for (int i = 0; i < n; ++i) {
    ECPS_DCHECK(keys[i] < space_.cardinalities[field]);
    rows[i] = off[field] + keys[i];
    if (++field == f) field = 0;
  }
}

void FullEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  const std::vector<float>& v = rows.values[0];
  ECPS_DCHECK(v.size() == static_cast<size_t>(plan.num_keys) * space_.dim);
  std::memcpy(out, v.data(), v.size() * sizeof(float));
}

void FullEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                   const float* grad_out, FetchedRows* row_grads) {
  std::vector<float>& g = row_grads->values[0];
  g.resize(static_cast<size_t>(plan.num_keys) * space_.dim);
  std::memcpy(g.data(), grad_out, g.size() * sizeof(float));
}

MemoryReport FullEmbedding::Memory() const {
  MemoryReport r;
  r.inference_bytes = 4ull * space_.total() * static_cast<uint64_t>(space_.dim);
  r.parameter_bytes = r.inference_bytes;
  return r;
}

}  // namespace ecps
