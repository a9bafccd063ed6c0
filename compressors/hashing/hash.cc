#include "compressors/hashing/hash.h"

#include <algorithm>
#include <cmath>

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
  OneTableMethod::Encode(keys, plan);
  for (uint64_t& r : plan->rows[0]) r %= m_;
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
