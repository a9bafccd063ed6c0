#include "compressors/hashing/hash.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {

using hashing_internal::StateReader;
using hashing_internal::StateWriter;

ParamSchema HashEmbedding::Schema() { return ParamSchema(); }

std::unique_ptr<Compressor> HashEmbedding::Create() { return std::make_unique<HashEmbedding>(); }

Status HashEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(hashing_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = hashing_internal::InitBound(space_);
  const uint64_t row_bytes = 4ull * static_cast<uint64_t>(space_.dim);
  m_ = std::clamp<uint64_t>(hashing_internal::BudgetBytes(space_, ctx.budget) / row_bytes, 1,
                            space_.total());
  return OkStatus();
}

std::vector<RowTableSpec> HashEmbedding::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = m_;
  e.width = space_.dim;
  e.init_bound = init_bound_;
  return {e};
}

void HashEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const int n = static_cast<int>(keys.size());
  const int nf = space_.num_fields();
  plan->Reset(n, 1);
  plan->per_key[0] = 1;
  std::vector<uint64_t>& rows = plan->rows[0];
  rows.resize(n);
  const uint64_t* off = space_.offsets.data();
  int field = 0;
  for (int i = 0; i < n; ++i) {
    ECPS_DCHECK(keys[i] < space_.cardinalities[field]);
    rows[i] = (off[field] + keys[i]) % m_;
    if (++field == nf) field = 0;
  }
}

void HashEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  const std::vector<float>& v = rows.values[0];
  ECPS_DCHECK(v.size() == static_cast<size_t>(plan.num_keys) * space_.dim);
  std::memcpy(out, v.data(), v.size() * sizeof(float));
}

void HashEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                   const float* grad_out, FetchedRows* row_grads) {
  std::vector<float>& g = row_grads->values[0];
  g.resize(static_cast<size_t>(plan.num_keys) * space_.dim);
  std::memcpy(g.data(), grad_out, g.size() * sizeof(float));
}

MemoryReport HashEmbedding::Memory() const {
  MemoryReport r;
  r.inference_bytes = 4ull * m_ * static_cast<uint64_t>(space_.dim);
  r.parameter_bytes = r.inference_bytes;
  return r;
}

std::string HashEmbedding::SaveState() const {
  StateWriter w(kName, 1);
  w.Pod(m_);
  return w.Finish();
}

Status HashEmbedding::LoadState(const std::string& blob) {
  StateReader r;
  RETURN_IF_ERROR(r.Open(blob, kName, 1));
  uint64_t m = 0;
  if (!r.Pod(&m) || !r.AtEnd() || m == 0) return r.Corrupt();
  m_ = m;
  return OkStatus();
}

}  // namespace ecps
