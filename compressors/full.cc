#include "compressors/full.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "common/rng.h"

namespace ecps {

ParamSchema FullEmbedding::Schema() {
  ParamSchema s;
  s.String("init", "global",
           "row initialisation: 'global' U(+-sqrt(1/max n_f)) for every row (methods.md 1.3) or "
           "'per_field' U(+-sqrt(1/n_f)) per field (the DLRM reference code's)",
           {"global", "per_field"});
  return s;
}

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
  per_field_init_ = params.GetString("init") == "per_field";
  seed_ = ctx.seed;
  return OkStatus();
}

Status FullEmbedding::InitStageRows(int index) {
  if (index != 0 || !per_field_init_) return OkStatus();
  if (rows_ == nullptr) return FailedPrecondition("full: init=per_field needs row access");
  // Field by field in chunks, from a stream of its own so the values do not
  // depend on the store's seeding.
  Rng rng(seed_ ^ 0x46554C4C49ull);  // "FULLI"
  const uint64_t chunk_rows = 1 << 14;
  std::vector<float> buf;
  for (int f = 0; f < space_.num_fields(); ++f) {
    const uint64_t n = space_.cardinalities[f];
    if (n == 0) continue;
    const float b = static_cast<float>(std::sqrt(1.0 / static_cast<double>(n)));
    for (uint64_t begin = 0; begin < n; begin += chunk_rows) {
      const uint64_t count = std::min(chunk_rows, n - begin);
      buf.resize(count * space_.dim);
      for (float& v : buf) v = b * (2.0f * rng.UniformFloat() - 1.0f);
      RETURN_IF_ERROR(rows_->WriteRows(0, space_.offsets[f] + begin, count, buf.data()));
    }
  }
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
